// Webhook signing against the Standard Webhooks reference vector, and the private-address rule.
#include <catch2/catch.hpp>

#include "webhook/webhook_sink.h"

using namespace bp::delivery_worker;

TEST_CASE("signatures match the Standard Webhooks reference example") {
  // From the Standard Webhooks specification's example.
  CHECK(webhook_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                          R"({"test": 2432232314})") == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  CHECK(webhook_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265331",
                          R"({"test": 2432232314})") != "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST_CASE("private, loopback and link-local addresses are recognised") {
  for (const char* ip : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                         "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "100.64.0.1", "not-an-ip"}) {
    INFO(ip);
    CHECK(is_private_address(ip));
  }
  for (const char* ip : {"93.184.216.34", "172.32.0.1", "8.8.8.8", "2606:4700::1111"}) {
    INFO(ip);
    CHECK_FALSE(is_private_address(ip));
  }
}
