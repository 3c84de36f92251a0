// The postgres sink: COPY into a staging table, then INSERT ... ON CONFLICT (bp_record_id) DO
// NOTHING into the target, one transaction per batch, so redelivered records are written once.
#pragma once

#include "bp/delivery_worker/sink.h"

namespace bp::delivery_worker {

Result<std::unique_ptr<Sink>> make_postgres_sink(const rapidjson::Value& config, const SinkEnvironment& env);

}  // namespace bp::delivery_worker
