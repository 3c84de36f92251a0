// The file sink: NDJSON files (optionally gzip, one gzip member per batch) under the worker's
// file root, rotated by size and age, fsynced before the batch counts as written.
#pragma once

#include "bp/delivery_worker/sink.h"

namespace bp::delivery_worker {

Result<std::unique_ptr<Sink>> make_file_sink(const rapidjson::Value& config, const SinkEnvironment& env);

// Compresses `data` as one complete gzip member.
std::string gzip_member(const std::string& data);

}  // namespace bp::delivery_worker
