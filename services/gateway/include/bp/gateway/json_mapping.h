// REST JSON <-> control-plane messages: writers for every resource, and a reader for request
// bodies that records type errors by dot-path (the same shape as the control-plane's checks).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "batchpipe/v1/control_plane.pb.h"
#include "bp/json.h"

namespace bp::gateway {

namespace v1 = ::batchpipe::v1;

std::string pipe_json(const v1::Pipe& pipe);
std::string destination_json(const v1::Destination& destination);
std::string limits_json(const v1::PipeLimits& limits);
std::string origin_json(const v1::AllowedOrigin& origin);
std::string api_key_json(const v1::ApiKey& key, const std::string& secret = "");
std::string run_json(const v1::DeliveryRun& run);
std::string dead_letter_json(const v1::DeadLetter& dead);
// {"<name>": [items...], "next_cursor": ...}
std::string page_json(const std::string& name, const std::vector<std::string>& items, const std::string& next_cursor);

// Reads a JSON object body field by field; unknown fields and wrong types become field errors.
class BodyReader {
 public:
  BodyReader(const rapidjson::Value& body, std::vector<std::string> known_fields);

  std::optional<std::string> string(const char* name, bool required = false);
  std::optional<bool> boolean(const char* name);
  std::optional<int64_t> integer(const char* name);
  // null reads as "" (the API's way to switch a feature off).
  std::optional<std::string> nullable_string(const char* name);
  // An integer or null; nullopt when absent or null.
  std::optional<int64_t> nullable_integer(const char* name);
  // A JSON object, serialized.
  std::optional<std::string> object(const char* name, bool required = false);

  const std::map<std::string, std::string>& errors() const { return errors_; }

 private:
  const rapidjson::Value* field(const char* name, bool required);
  const rapidjson::Value& body_;
  std::map<std::string, std::string> errors_;
};

// {"error":"validation_error","message":...,"errors":{...}}
std::string validation_error_json(const std::string& message, const std::map<std::string, std::string>& errors);

}  // namespace bp::gateway
