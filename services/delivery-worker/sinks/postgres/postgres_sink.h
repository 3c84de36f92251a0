// The postgres sink. Redelivered records are written once: jsonb mode COPYs a batch straight into
// the table and, when some of its records are there already (unique violation), writes it again
// through a staging table with INSERT ... ON CONFLICT (bp_record_id) DO NOTHING, one transaction
// per batch; columns mode always goes through the staging table.
#pragma once

#include "bp/delivery_worker/sink.h"

namespace bp::delivery_worker {

Result<std::unique_ptr<Sink>> make_postgres_sink(const rapidjson::Value& config, const SinkEnvironment& env);

}  // namespace bp::delivery_worker
