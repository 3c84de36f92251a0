// AWS Signature Version 4 against the worked examples of the S3 documentation ("Signature
// Calculations for the Authorization Header: Transferring Payload in a Single Chunk").
#include <catch2/catch.hpp>

#include "bp/crypto.h"
#include "s3/sigv4.h"

using namespace bp::delivery_worker;

namespace {
const SigV4Credentials kExample{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1"};
}

TEST_CASE("sigv4: the S3 documentation's GET Object example") {
  SigV4Request r;
  r.method = "GET";
  r.path = "/test.txt";
  r.payload_sha256_hex = bp::crypto::sha256_hex("");
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Range", "bytes=0-9"},
               {"x-amz-content-sha256", r.payload_sha256_hex},
               {"x-amz-date", "20130524T000000Z"}};
  CHECK(sigv4_authorization(r, kExample, "20130524T000000Z") ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST_CASE("sigv4: the S3 documentation's PUT Object example") {
  SigV4Request r;
  r.method = "PUT";
  r.path = "/test%24file.text";
  r.payload_sha256_hex = bp::crypto::sha256_hex("Welcome to Amazon S3.");
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
               {"x-amz-date", "20130524T000000Z"},
               {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
               {"x-amz-content-sha256", r.payload_sha256_hex}};
  CHECK(sigv4_authorization(r, kExample, "20130524T000000Z") ==
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, "
        "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST_CASE("sigv4: URI encoding keeps unreserved characters and, for paths, slashes") {
  CHECK(s3_uri_encode("a-b_c.d~e/f g$", false) == "a-b_c.d~e/f%20g%24");
  CHECK(s3_uri_encode("a/b", true) == "a%2Fb");
  CHECK(s3_uri_encode("\xc3\xa9", false) == "%C3%A9");
}
