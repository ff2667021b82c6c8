#pragma once
// The episodic sampler of meta-training (packd-method.md D10, RegAD's episodes):
//
//   an epoch visits every training image of every category once as a query (in shuffled order);
//   a batch holds B queries from `cats_per_batch` categories, B / cats_per_batch each, so that
//   the contrastive loss has negatives (queries of other categories) in every batch;
//   every query gets k supports drawn uniformly from its own category's train/good images,
//   never the query itself (repeats among the k are possible, as in RegAD; a category needs at
//   least k + 1 images).
//
// Everything comes from one Generator: the epoch's plan is a function of the generator state at
// the epoch's start, so (epoch, batch index, that state) is the whole position and a resumed run
// replays exactly the batches an uninterrupted run would have seen.
// Images that cannot fill a whole batch at the end of an epoch (a category with fewer than B /
// cats_per_batch left, or fewer than cats_per_batch categories left) wait for the next epoch's
// shuffle: the epoch has floor-limited batches, like drop_last.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "packd/core/error.hpp"
#include "packd/core/generator.hpp"

namespace packd::train {

struct TrainCategory {
  std::string name;
  std::vector<std::string> images;  // train/good
};

struct Query {
  int64_t category = 0;               // index into the sampler's categories
  std::string image;
  std::vector<std::string> supports;  // k images of the same category, never `image`
};

struct SamplerOptions {
  int64_t batch_size = 32;
  int64_t cats_per_batch = 4;
  int64_t shots = 2;  // k
};

class EpisodeSampler {
 public:
  EpisodeSampler(std::vector<TrainCategory> categories, const SamplerOptions& opt, uint64_t seed)
      : cats_(std::move(categories)), opt_(opt), gen_(seed) {
    PACKD_CHECK(!cats_.empty(), "sampler: no training categories");
    PACKD_CHECK(opt.batch_size > 0 && opt.cats_per_batch > 0, "sampler: batch size and categories per batch must be positive");
    PACKD_CHECK(opt.batch_size % opt.cats_per_batch == 0, "sampler: batch size ", opt.batch_size,
                " is not a multiple of the categories per batch (", opt.cats_per_batch, ")");
    PACKD_CHECK(int64_t(cats_.size()) >= opt.cats_per_batch, "sampler: ", cats_.size(),
                " training categories cannot fill batches of ", opt.cats_per_batch, " categories");
    PACKD_CHECK(opt.shots >= 1, "sampler: shots must be at least 1, got ", opt.shots);
    const int64_t per_cat = opt.batch_size / opt.cats_per_batch;
    for (const auto& c : cats_) {
      PACKD_CHECK(!c.images.empty(), "sampler: category '", c.name, "' has no training images");
      PACKD_CHECK(int64_t(c.images.size()) >= 2, "sampler: category '", c.name,
                  "' has one training image; a query needs at least one other image of its category as support");
      PACKD_CHECK(int64_t(c.images.size()) > opt.shots, "sampler: category '", c.name, "' has ", c.images.size(),
                  " training images: k = ", opt.shots, " supports besides the query need at least ", opt.shots + 1);
      PACKD_CHECK(int64_t(c.images.size()) >= per_cat, "sampler: category '", c.name, "' has ", c.images.size(),
                  " training images, fewer than the ", per_cat, " queries it must give a batch");
    }
    plan_epoch();
  }

  // Batches in the current epoch, and the position within it.
  int64_t batches_per_epoch() const { return int64_t(plan_.size()); }
  int64_t epoch() const { return epoch_; }
  int64_t batch_in_epoch() const { return next_; }
  // The epoch the next batch belongs to.
  int64_t next_epoch() const { return next_ < int64_t(plan_.size()) ? epoch_ : epoch_ + 1; }
  const std::vector<TrainCategory>& categories() const { return cats_; }

  // The next batch (B queries with their supports); starts a new epoch when one is used up.
  std::vector<Query> next() {
    if (next_ >= int64_t(plan_.size())) {
      ++epoch_;
      plan_epoch();
    }
    const auto& picks = plan_[std::size_t(next_++)];
    std::vector<Query> batch;
    batch.reserve(picks.size());
    for (const auto& [c, i] : picks) {
      Query q;
      q.category = c;
      q.image = cats_[std::size_t(c)].images[std::size_t(i)];
      const auto n = uint64_t(cats_[std::size_t(c)].images.size());
      for (int64_t s = 0; s < opt_.shots; ++s) {
        uint64_t j = support_gen_.below(n - 1);  // uniform over the others
        if (j >= uint64_t(i)) ++j;
        q.supports.push_back(cats_[std::size_t(c)].images[j]);
      }
      batch.push_back(std::move(q));
    }
    return batch;
  }

  // Position for checkpoints: the epoch, the batch within it, and the generator states at the
  // epoch's start (the plan) and now (the supports drawn so far).
  struct State {
    int64_t epoch = 0, batch = 0;
    Generator::State epoch_start, supports;
  };
  State state() const { return {epoch_, next_, epoch_start_, support_gen_.state()}; }
  void set_state(const State& s) {
    gen_.set_state(s.epoch_start);
    epoch_ = s.epoch;
    plan_epoch();
    PACKD_CHECK(s.batch >= 0 && s.batch <= int64_t(plan_.size()), "sampler: saved position ", s.batch,
                " is outside the epoch's ", plan_.size(), " batches (different data?)");
    next_ = s.batch;
    support_gen_.set_state(s.supports);
  }

 private:
  // Shuffles every category and deals batches of cats_per_batch categories x per_cat queries.
  void plan_epoch() {
    epoch_start_ = gen_.state();
    const int64_t per_cat = opt_.batch_size / opt_.cats_per_batch;
    std::vector<std::vector<int64_t>> order(cats_.size());
    for (std::size_t c = 0; c < cats_.size(); ++c) {
      order[c].resize(cats_[c].images.size());
      for (std::size_t i = 0; i < order[c].size(); ++i) order[c][i] = int64_t(i);
      for (std::size_t i = order[c].size(); i > 1; --i) std::swap(order[c][i - 1], order[c][gen_.below(i)]);
    }
    std::vector<std::size_t> used(cats_.size(), 0);
    plan_.clear();
    for (;;) {
      std::vector<int64_t> open;  // categories that can still give per_cat queries
      for (std::size_t c = 0; c < cats_.size(); ++c)
        if (order[c].size() - used[c] >= std::size_t(per_cat)) open.push_back(int64_t(c));
      if (int64_t(open.size()) < opt_.cats_per_batch) break;
      // cats_per_batch distinct categories, chosen with probability proportional to what is left
      // would favour big categories; uniform choice among the open ones keeps them balanced.
      for (std::size_t i = 0; i < std::size_t(opt_.cats_per_batch); ++i)
        std::swap(open[i], open[i + gen_.below(open.size() - i)]);
      std::vector<std::pair<int64_t, int64_t>> picks;
      for (int64_t k = 0; k < opt_.cats_per_batch; ++k) {
        const auto c = std::size_t(open[std::size_t(k)]);
        for (int64_t q = 0; q < per_cat; ++q) picks.emplace_back(int64_t(c), order[c][used[c]++]);
      }
      plan_.push_back(std::move(picks));
    }
    next_ = 0;
    support_gen_ = Generator(gen_.next_u64());
  }

  std::vector<TrainCategory> cats_;
  SamplerOptions opt_;
  Generator gen_, support_gen_;
  Generator::State epoch_start_{};
  int64_t epoch_ = 0, next_ = 0;
  std::vector<std::vector<std::pair<int64_t, int64_t>>> plan_;  // per batch: (category, image index)
};

}  // namespace packd::train
