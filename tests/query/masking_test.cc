// Pins profiles/query/masking.cc: the documented mask forms, UTF-8 aware, never the length.
#include "profiles/query/masking.h"

#include "gtest/gtest.h"

namespace tessera::query {
namespace {

TEST(MaskingTest, DocumentedForms) {
  EXPECT_EQ(MaskEmail("somchai.j@example.com"), "s*****@example.com");
  EXPECT_EQ(MaskEmail("a@b.co"), "a*****@b.co");
  EXPECT_EQ(MaskEmail("no-at-sign"), "n*****");
  EXPECT_EQ(MaskPhone("+66812345678"), "+66*****5678");
  EXPECT_EQ(MaskPhone("+6681"), "*****");
  EXPECT_EQ(MaskText("สมชาย ใจดี"), "ส*****");
  EXPECT_EQ(MaskText(""), "");
  EXPECT_EQ(MaskText("x"), "x*****");
  EXPECT_EQ(MaskEmail("somchai.jaidee.long.name@example.com").size(), MaskEmail("s@example.com").size());
}

TEST(MaskingTest, TraitValuesByNameAndShape) {
  EXPECT_EQ(MaskTraitJson("email", "\"Somchai.J@Example.com\""), "\"S*****@Example.com\"");
  EXPECT_EQ(MaskTraitJson("phone", "\"081-234-5678\""), "\"081*****5678\"");
  EXPECT_EQ(MaskTraitJson("name", "\"Nok\""), "\"N*****\"");
  EXPECT_EQ(MaskTraitJson("address", R"({"street":"1 Sukhumvit"})"), "\"*****\"");
  EXPECT_EQ(MaskTraitJson("birthday", "19900501"), "\"*****\"");
  EXPECT_EQ(MaskTraitJson("name", R"("A \"quoted\" name")"), "\"*****\"");
  for (const char* trait : {"email", "phone", "name", "first_name", "last_name", "address", "birthday"}) {
    EXPECT_TRUE(IsPiiTrait(trait)) << trait;
  }
  EXPECT_FALSE(IsPiiTrait("city"));
  EXPECT_TRUE(IsPiiIdentifierType("order_email"));
  EXPECT_FALSE(IsPiiIdentifierType("anonymous_id"));
}

TEST(MaskingTest, ProfileAndEvent) {
  v1::Profile profile;
  profile.add_identifiers("anonymous_id:a-1");
  profile.add_identifiers("email:sa@example.com");
  profile.add_identifiers("email:sb@example.com");  // masks to the same text: listed once
  profile.add_identifiers("phone:+66812345678");
  (*profile.mutable_traits())["city"].set_json("\"Bangkok\"");
  (*profile.mutable_traits())["last_name"].set_json("\"Jaidee\"");
  MaskProfile(profile);
  EXPECT_EQ(std::vector<std::string>(profile.identifiers().begin(), profile.identifiers().end()),
            (std::vector<std::string>{"anonymous_id:a-1", "email:s*****@example.com", "phone:+66*****5678"}));
  EXPECT_EQ(profile.traits().at("city").json(), "\"Bangkok\"");
  EXPECT_EQ(profile.traits().at("last_name").json(), "\"J*****\"");

  v1::Event event;
  v1::Identifier* id = event.add_identifiers();
  id->set_type("email");
  id->set_value("nok@example.com");
  (*event.mutable_traits())["first_name"] = "\"Nok\"";
  event.set_properties_json(R"({"note":"nok@example.com"})");
  event.mutable_social()->set_text("call me 0812345678");
  MaskEvent(event);
  EXPECT_EQ(event.identifiers(0).value(), "n*****@example.com");
  EXPECT_EQ(event.traits().at("first_name"), "\"N*****\"");
  EXPECT_TRUE(event.properties_json().empty());
  EXPECT_TRUE(event.social().text().empty());
}

}  // namespace
}  // namespace tessera::query
