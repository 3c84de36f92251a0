// The one table from destination type to sink factory. Adding a sink touches only this line.
#include "bp/delivery_worker/sink.h"
#include "file/file_sink.h"
#include "postgres/postgres_sink.h"
#include "s3/s3_sink.h"
#include "webhook/webhook_sink.h"

#include <map>

namespace bp::delivery_worker {

const SinkFactory* find_sink_factory(const std::string& type) {
  static const std::map<std::string, SinkFactory> kFactories = {
      {"postgres", make_postgres_sink},
      {"webhook", make_webhook_sink},
      {"file", make_file_sink},
      {"s3", make_s3_sink},
  };
  auto it = kFactories.find(type);
  return it == kFactories.end() ? nullptr : &it->second;
}

}  // namespace bp::delivery_worker
