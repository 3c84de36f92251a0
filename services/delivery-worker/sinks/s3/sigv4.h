// AWS Signature Version 4 for S3 requests (path-style, header-signed, payload hash given).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bp::delivery_worker {

struct SigV4Request {
  std::string method;              // "PUT"
  std::string path;                // as sent on the wire, already URI-encoded ("/bucket/a%20b.gz")
  std::string query;               // canonical query string ("" for none)
  std::vector<std::pair<std::string, std::string>> headers;  // every header to sign, host included
  std::string payload_sha256_hex;  // hex SHA-256 of the body (also sent as x-amz-content-sha256)
};

struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string region;              // "us-east-1"
  std::string service = "s3";
};

// The Authorization header value for `r` at `amz_date` ("YYYYMMDDTHHMMSSZ", also sent as
// x-amz-date).
std::string sigv4_authorization(const SigV4Request& r, const SigV4Credentials& c, const std::string& amz_date);

// RFC 3986 encoding as S3 wants it: unreserved characters stay, everything else is %XX
// (uppercase); '/' stays unless encode_slash.
std::string s3_uri_encode(std::string_view s, bool encode_slash);

}  // namespace bp::delivery_worker
