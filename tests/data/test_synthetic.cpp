// The synthetic anomaly data set (include/packd/data/synthetic.hpp): exact masks, variation among
// normal images, byte-for-byte determinism (also across thread counts), the MVTec layout read back
// by mvtec(), speed, and the refusals.
#include "packd/data/synthetic.hpp"

#include <omp.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

#include "testing.hpp"

using packd::data::Image;
using packd::data::SyntheticImage;
using packd::data::SyntheticOptions;
namespace fs = std::filesystem;
namespace data = packd::data;

namespace {

std::string temp_dir(const std::string& tag) {
  const fs::path p = fs::current_path() / ("packd_test_synthetic_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p.string();
}

struct Cleanup {
  std::vector<std::string> dirs;
  ~Cleanup() {
    std::error_code ec;
    for (const auto& d : dirs) fs::remove_all(d, ec);
  }
};

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Relative path -> bytes of every file under dir.
std::map<std::string, std::vector<uint8_t>> snapshot(const std::string& dir) {
  std::map<std::string, std::vector<uint8_t>> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_bytes(e.path().string());
  return out;
}

int64_t count_on(const Image& mask) {
  int64_t n = 0;
  for (uint8_t v : mask.pixels) n += v != 0;
  return n;
}

}  // namespace

TEST_CASE("synthetic: exact masks, defects differ from the normal draw", "[synthetic]") {
  const auto cats = data::synthetic_categories();
  REQUIRE(cats.size() == 10);
  CHECK(std::is_sorted(cats.begin(), cats.end()));
  for (const std::string& cat : cats)
    for (const int64_t size : {64, 128})
      for (uint64_t seed = 0; seed < 6; ++seed) {
        const SyntheticImage good = data::render_synthetic(cat, size, seed);
        REQUIRE(good.image.height == size);
        REQUIRE(good.image.channels == 3);
        CHECK(count_on(good.mask) == 0);
        CHECK(good.image.pixels == good.normal.pixels);
        for (const std::string& defect : data::synthetic_defects(cat)) {
          INFO(cat << "/" << defect << " size " << size << " seed " << seed);
          const SyntheticImage bad = data::render_synthetic(cat, size, seed, defect);
          CHECK(bad.normal.pixels == good.normal.pixels);  // the normal draw ignores the defect
          REQUIRE(bad.mask.channels == 1);
          const int64_t on = count_on(bad.mask);
          CHECK(on >= std::max<int64_t>(6, size * size / 500));
          CHECK(on < size * size / 4);
          int64_t outside_changed = 0, inside_small = 0, not_binary = 0;
          for (int64_t i = 0; i < size * size; ++i) {
            int d = 0;
            for (int k = 0; k < 3; ++k)
              d = std::max(d, std::abs(int(bad.image.pixels[std::size_t(i * 3 + k)]) - int(bad.normal.pixels[std::size_t(i * 3 + k)])));
            const uint8_t m = bad.mask.pixels[std::size_t(i)];
            not_binary += m != 0 && m != 255;
            if (m == 0 && d != 0) outside_changed++;
            if (m == 255 && d < data::kSyntheticMinDiff) inside_small++;
          }
          CHECK(not_binary == 0);
          CHECK(outside_changed == 0);
          CHECK(inside_small == 0);
        }
      }
}

TEST_CASE("synthetic: normal images vary within a category and differ across categories", "[synthetic]") {
  auto mean_abs = [](const Image& a, const Image& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.pixels.size(); ++i) s += std::abs(int(a.pixels[i]) - int(b.pixels[i]));
    return s / double(a.pixels.size());
  };
  for (const std::string& cat : data::synthetic_categories()) {
    INFO(cat);
    const Image a = data::render_synthetic(cat, 64, 1).image, b = data::render_synthetic(cat, 64, 2).image;
    CHECK(mean_abs(a, b) > 1.0);                                   // not the same picture
    CHECK(data::render_synthetic(cat, 64, 1).image.pixels == a.pixels);  // but repeatable
  }
  CHECK(mean_abs(data::render_synthetic("disc", 64, 1).image, data::render_synthetic("ring", 64, 1).image) > 10.0);
  CHECK_THROWS_PACKD(data::render_synthetic("bottle", 64, 0), "unknown category 'bottle'");
  CHECK_THROWS_PACKD(data::render_synthetic("stripes", 64, 0, "missing"), "'missing' is not a defect of stripes");
  CHECK_THROWS_PACKD(data::render_synthetic("disc", 8, 0), "image size must be 16 to 2048");
}

TEST_CASE("synthetic data set: MVTec layout, deterministic, readable by mvtec()", "[synthetic]") {
  Cleanup cleanup;
  const std::string a = temp_dir("a"), b = temp_dir("b"), c = temp_dir("c");
  cleanup.dirs = {a, b, c};
  SyntheticOptions opt;
  opt.seed = 7;
  opt.categories = {"ring", "dots"};
  opt.image_size = 64;
  opt.n_train = 5;
  opt.n_test_good = 3;
  opt.n_test_bad = 9;
  CHECK(data::make_synthetic_dataset(a, opt) == std::vector<std::string>{"ring", "dots"});
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);  // one thread must write the same bytes
  data::make_synthetic_dataset(b, opt);
  omp_set_num_threads(saved);
  const auto snap_a = snapshot(a), snap_b = snapshot(b);
  CHECK(snap_a.size() == 1 + 2 * (5 + 3 + 9) + 9 + 9);  // marker, images, masks
  CHECK(snap_a == snap_b);
  opt.seed = 8;
  data::make_synthetic_dataset(c, opt);
  const auto snap_c = snapshot(c);
  CHECK(snap_c.size() == snap_a.size());
  CHECK(snap_c.at("ring/train/good/000.png") != snap_a.at("ring/train/good/000.png"));

  CHECK(data::list_categories("mvtec", a) == std::vector<std::string>{"dots", "ring"});
  for (const std::string cat : {"dots", "ring"}) {
    INFO(cat);
    const data::CategoryData d = data::mvtec(a, cat);
    CHECK(d.train_good.size() == 5);
    CHECK(d.train_good.front() == a + "/" + cat + "/train/good/000.png");
    CHECK(d.test.size() == 12);
    const auto defects = data::synthetic_defects(cat);
    std::map<std::string, int> per_defect;
    for (const data::Sample& s : d.test) {
      per_defect[s.defect]++;
      const Image im = data::read_image(s.image, 3);
      CHECK(im.height == 64);
      if (s.label == 0) continue;
      const Image m = data::read_image(s.mask, 1);
      CHECK(count_on(m) > 0);
      CHECK(std::all_of(m.pixels.begin(), m.pixels.end(), [](uint8_t v) { return v == 0 || v == 255; }));
    }
    CHECK(per_defect["good"] == 3);
    // Round-robin: bad image i goes to defects[i % T].
    const int T = int(defects.size());
    for (int j = 0; j < T; ++j) CHECK(per_defect[defects[std::size_t(j)]] == (9 - 1 - j) / T + 1);
    CHECK(per_defect.size() == defects.size() + 1);
    data::CategoryData copy = d;
    data::ValidationReport r;
    data::validate(copy, false, r);
    CHECK(r.ok());
    // A bad image's mask marks where it departs from the category's normal look: inside the mask
    // it is farther from the mean training image than outside.
    std::vector<double> mean(64 * 64 * 3, 0.0);
    for (const auto& p : d.train_good) {
      const Image im = data::read_image(p, 3);
      for (std::size_t i = 0; i < mean.size(); ++i) mean[i] += im.pixels[i] / double(d.train_good.size());
    }
    double in = 0, out = 0;
    int64_t n_in = 0, n_out = 0;
    for (const data::Sample& s : d.test) {
      if (s.label == 0) continue;
      const Image im = data::read_image(s.image, 3), m = data::read_image(s.mask, 1);
      for (std::size_t i = 0; i < m.pixels.size(); ++i) {
        double dev = 0;
        for (std::size_t k = 0; k < 3; ++k) dev += std::abs(im.pixels[i * 3 + k] - mean[i * 3 + k]);
        (m.pixels[i] ? in : out) += dev;
        (m.pixels[i] ? n_in : n_out)++;
      }
    }
    CHECK(in / double(n_in) > 2.0 * out / double(n_out));
  }

  // Rerunning over its own output replaces the categories (no stale files).
  opt.n_train = 2;
  data::make_synthetic_dataset(a, opt);
  CHECK(data::mvtec(a, "ring").train_good.size() == 2);
  // A folder it did not make is left alone.
  const std::string foreign = temp_dir("foreign");
  cleanup.dirs.push_back(foreign);
  fs::create_directories(foreign + "/ring/train/good");
  CHECK_THROWS_PACKD(data::make_synthetic_dataset(foreign, opt), "was not made by make_synthetic_dataset");
  CHECK(fs::is_directory(foreign + "/ring/train/good"));
  opt.categories = {"ring", "bottle"};
  CHECK_THROWS_PACKD(data::make_synthetic_dataset(a, opt), "unknown category 'bottle'");
  opt.categories = {"ring", "ring"};
  CHECK_THROWS_PACKD(data::make_synthetic_dataset(a, opt), "category ring given twice");
  opt.categories = {};
  opt.n_train = 0;
  CHECK_THROWS_PACKD(data::make_synthetic_dataset(a, opt), "n_train (0) must be >= 1");
}

TEST_CASE("synthetic data set: 10 categories x 40 images at 128 x 128 quickly", "[synthetic]") {
  Cleanup cleanup;
  const std::string dir = temp_dir("speed");
  cleanup.dirs = {dir};
  SyntheticOptions opt;  // defaults: all 10 categories, 128 x 128, 20 + 8 + 12 images each
  const std::clock_t t0 = std::clock();  // CPU time of all threads: robust to a busy machine
  const auto cats = data::make_synthetic_dataset(dir, opt);
  const double seconds = double(std::clock() - t0) / CLOCKS_PER_SEC;
  CHECK(cats.size() == 10);
  CHECK(data::list_categories("mvtec", dir) == data::synthetic_categories());
  for (const auto& cat : cats) {
    const data::CategoryData d = data::mvtec(dir, cat);
    CHECK(d.train_good.size() == 20);
    CHECK(d.test.size() == 20);
  }
  INFO("make_synthetic_dataset: 10 categories x 40 images at 128 x 128 took " << seconds << " s of CPU time");
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  CHECK(seconds < 5.0);  // ~1 s on one core of the development machine
#endif
}
