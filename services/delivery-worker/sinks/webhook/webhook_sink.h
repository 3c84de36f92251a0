// The webhook sink: POSTs a batch as a JSON array (or NDJSON), signed per Standard Webhooks.
#pragma once

#include "bp/delivery_worker/sink.h"
#include "http/http_client.h"  // is_private_address

namespace bp::delivery_worker {

Result<std::unique_ptr<Sink>> make_webhook_sink(const rapidjson::Value& config, const SinkEnvironment& env);

// Standard Webhooks: "v1," + base64(HMAC-SHA256(key, id + "." + timestamp + "." + body)), where a
// "whsec_" secret's key is the base64 after the prefix and any other secret is used as it is.
std::string webhook_signature(const std::string& secret, const std::string& id, const std::string& timestamp,
                              const std::string& body);

}  // namespace bp::delivery_worker
