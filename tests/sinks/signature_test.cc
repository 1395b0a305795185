#include "sinks/signature.h"

#include <gtest/gtest.h>

namespace tessera::sinks {
namespace {

TEST(SignatureTest, MatchesRfc4231TestCase2) {
  EXPECT_EQ(HmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(SignatureTest, HeaderSignsTimestampDotBody) {
  const std::string body = R"({"destination":"crm","items":[]})";
  EXPECT_EQ(SignatureHeaderValue("s3cret", 1764043200, body),
            "sha256=" + HmacSha256Hex("s3cret", "1764043200." + body));
  EXPECT_NE(SignatureHeaderValue("s3cret", 1764043201, body), SignatureHeaderValue("s3cret", 1764043200, body));
}

}  // namespace
}  // namespace tessera::sinks
