// The s3 sink: each batch becomes one gzip-compressed NDJSON object, PUT to any S3-compatible
// store (path-style URL: <endpoint>/<bucket>/<key>) and signed with AWS Signature Version 4. The
// key is derived from the batch id, which stays the same across a batch's attempts, so a retry
// overwrites the same object rather than adding one:
//   <prefix><YYYY>/<MM>/<DD>/<HHMMSS>-<batch id>.ndjson.gz   (UTC, at the batch's first attempt)
#pragma once

#include "bp/delivery_worker/sink.h"

namespace bp::delivery_worker {

Result<std::unique_ptr<Sink>> make_s3_sink(const rapidjson::Value& config, const SinkEnvironment& env);

}  // namespace bp::delivery_worker
