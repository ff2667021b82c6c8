// The episodic sampler: batch composition (D10), supports never the query, whole epochs, exact
// replay after restoring a saved position, and the errors that must come before training.
#include <map>
#include <set>

#include "packd/train/sampler.hpp"
#include "testing.hpp"

using namespace packd;
using train::EpisodeSampler;
using train::TrainCategory;

namespace {
std::vector<TrainCategory> categories(int n, int images) {
  std::vector<TrainCategory> cats;
  for (int c = 0; c < n; ++c) {
    TrainCategory t{"cat" + std::to_string(c), {}};
    for (int i = 0; i < images + c; ++i) t.images.push_back(t.name + "/" + std::to_string(i) + ".png");
    cats.push_back(t);
  }
  return cats;
}
}  // namespace

TEST_CASE("batches hold B queries from cats_per_batch categories, supports from the same category") {
  EpisodeSampler s(categories(6, 20), {.batch_size = 8, .cats_per_batch = 4, .shots = 3}, 1);
  std::map<std::string, int> seen;
  const int64_t n = s.batches_per_epoch();
  CHECK(n > 0);
  for (int64_t b = 0; b < n; ++b) {
    auto batch = s.next();
    REQUIRE(batch.size() == 8);
    std::map<int64_t, int> per_cat;
    for (const auto& q : batch) {
      ++per_cat[q.category];
      ++seen[q.image];
      REQUIRE(q.supports.size() == 3);
      for (const auto& sp : q.supports) {
        CHECK(sp != q.image);
        CHECK(sp.rfind(s.categories()[std::size_t(q.category)].name + "/", 0) == 0);
      }
    }
    CHECK(per_cat.size() == 4);
    for (auto& [c, k] : per_cat) CHECK(k == 2);
  }
  for (auto& [img, k] : seen) CHECK(k == 1);  // no image twice in an epoch
  CHECK(s.epoch() == 0);
  s.next();
  CHECK(s.epoch() == 1);
}

TEST_CASE("a restored position replays the same batches") {
  EpisodeSampler a(categories(5, 12), {.batch_size = 4, .cats_per_batch = 2, .shots = 2}, 7);
  for (int i = 0; i < 9; ++i) a.next();  // into the second epoch
  const auto st = a.state();
  std::vector<std::vector<train::Query>> rest;
  for (int i = 0; i < 12; ++i) rest.push_back(a.next());
  EpisodeSampler b(categories(5, 12), {.batch_size = 4, .cats_per_batch = 2, .shots = 2}, 999);
  b.set_state(st);
  for (int i = 0; i < 12; ++i) {
    auto x = b.next();
    for (std::size_t q = 0; q < x.size(); ++q) {
      CHECK(x[q].image == rest[std::size_t(i)][q].image);
      CHECK(x[q].supports == rest[std::size_t(i)][q].supports);
    }
  }
  EpisodeSampler c(categories(5, 12), {.batch_size = 4, .cats_per_batch = 2, .shots = 2}, 7);
  for (int i = 0; i < 9; ++i) c.next();
  CHECK(c.next()[0].image == rest[0][0].image);  // same seed, same stream
}

TEST_CASE("the sampler refuses what cannot be trained, before training") {
  CHECK_THROWS_PACKD(EpisodeSampler(categories(3, 10), {.batch_size = 8, .cats_per_batch = 4, .shots = 2}, 0),
                     "3 training categories cannot fill batches of 4 categories");
  CHECK_THROWS_PACKD(EpisodeSampler(categories(4, 10), {.batch_size = 10, .cats_per_batch = 4, .shots = 2}, 0),
                     "not a multiple");
  auto cats = categories(4, 10);
  cats[2].images.clear();
  CHECK_THROWS_PACKD(EpisodeSampler(cats, {.batch_size = 8, .cats_per_batch = 4, .shots = 2}, 0), "'cat2' has no training images");
  cats = categories(4, 10);
  cats[1].images.resize(1);
  CHECK_THROWS_PACKD(EpisodeSampler(cats, {.batch_size = 4, .cats_per_batch = 4, .shots = 2}, 0), "at least one other image");
  CHECK_THROWS_PACKD(EpisodeSampler(categories(4, 3), {.batch_size = 16, .cats_per_batch = 4, .shots = 2}, 0),
                     "fewer than the 4 queries");
  CHECK_THROWS_PACKD(EpisodeSampler(categories(4, 5), {.batch_size = 4, .cats_per_batch = 4, .shots = 8}, 0),
                     "k = 8 supports besides the query need at least 9");
}
