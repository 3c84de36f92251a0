#include "sigv4.h"

#include <algorithm>
#include <cctype>

#include "bp/crypto.h"

namespace bp::delivery_worker {

std::string s3_uri_encode(std::string_view s, bool encode_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Header values: surrounding spaces removed, inner runs of spaces folded to one.
std::string trim_value(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string sigv4_authorization(const SigV4Request& r, const SigV4Credentials& c, const std::string& amz_date) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& [name, value] : r.headers) headers.emplace_back(lower(name), trim_value(value));
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }
  std::string canonical_request = r.method + "\n" + r.path + "\n" + r.query + "\n" + canonical_headers + "\n" +
                                  signed_headers + "\n" + r.payload_sha256_hex;
  std::string date = amz_date.substr(0, 8);
  std::string scope = date + "/" + c.region + "/" + c.service + "/aws4_request";
  std::string to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + crypto::sha256_hex(canonical_request);
  std::string key = crypto::hmac_sha256("AWS4" + c.secret_access_key, date);
  key = crypto::hmac_sha256(key, c.region);
  key = crypto::hmac_sha256(key, c.service);
  key = crypto::hmac_sha256(key, "aws4_request");
  std::string signature = crypto::hex_encode(crypto::hmac_sha256(key, to_sign));
  return "AWS4-HMAC-SHA256 Credential=" + c.access_key_id + "/" + scope + ", SignedHeaders=" + signed_headers +
         ", Signature=" + signature;
}

}  // namespace bp::delivery_worker
