// Data set readers (include/packd/data/dataset.hpp): MVTec AD, MPDD, VisA (raw csv and anomalib's
// converted layout) and folder, on tiny layouts written here; every error path; validate() with
// and without skip_bad; the sample-mask loader; a few real MVTec AD files when they are present.
#include "packd/data/dataset.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "testing.hpp"

using packd::data::CategoryData;
using packd::data::Image;
using packd::data::Sample;
namespace fs = std::filesystem;
namespace data = packd::data;

namespace {

// A scratch folder under the test's working directory, removed at the end.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag)
      : path(fs::current_path() / ("packd_test_dataset_" + tag + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& rel) const { return (path / rel).string(); }
  std::string str() const { return path.string(); }
};

Image solid(int64_t h, int64_t w, int64_t c, uint8_t v) { return Image{h, w, c, std::vector<uint8_t>(std::size_t(h * w * c), v)}; }

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

void png(const std::string& path, const Image& im) {
  fs::create_directories(fs::path(path).parent_path());
  data::write_png(path, im);
}

void png(const std::string& path, uint8_t v = 100) { png(path, solid(8, 8, 3, v)); }

// A 0 / 255 mask with a 4 x 4 defect in the middle.
void mask_png(const std::string& path, uint8_t on = 255) {
  Image m = solid(8, 8, 1, 0);
  for (int y = 2; y < 6; ++y)
    for (int x = 2; x < 6; ++x) m.at(y, x, 0) = on;
  png(path, m);
}

std::vector<uint8_t> jpeg_bytes(const Image& im) {
  std::vector<uint8_t> out;
  auto append = [](void* ctx, void* d, int n) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(d), static_cast<uint8_t*>(d) + n);
  };
  REQUIRE(stbi_write_jpg_to_func(append, &out, int(im.width), int(im.height), int(im.channels), im.pixels.data(), 90));
  return out;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

// <root>/widget in MVTec's layout, with distractors (a text file, a hidden file, a stray folder).
void make_mvtec(const TempDir& t, const std::string& cat = "widget") {
  png(t / (cat + "/train/good/001.png"));
  png(t / (cat + "/train/good/000.png"));
  write_file(t / (cat + "/train/good/notes.txt"), "not an image");
  png(t / (cat + "/train/good/.hidden.png"));
  png(t / (cat + "/test/good/000.png"));
  png(t / (cat + "/test/crack/001.png"));
  png(t / (cat + "/test/crack/000.png"));
  mask_png(t / (cat + "/ground_truth/crack/000_mask.png"));
  mask_png(t / (cat + "/ground_truth/crack/001_mask.png"));
  png(t / (cat + "/test/scratch/000.png"));
  mask_png(t / (cat + "/ground_truth/scratch/000_mask.png"));
}

std::vector<std::string> images_of(const CategoryData& d) {
  std::vector<std::string> v;
  for (const Sample& s : d.test) v.push_back(s.image);
  return v;
}

}  // namespace

TEST_CASE("mvtec and mpdd readers: sorted lists, labels, masks", "[dataset]") {
  TempDir t("mvtec");
  make_mvtec(t);
  for (const std::string kind : {"mvtec", "mpdd"}) {
    INFO(kind);
    const CategoryData d = data::open_dataset(kind, t.str(), "widget");
    CHECK(d.dataset == kind);
    CHECK(d.category == "widget");
    CHECK(d.root == t.str());
    CHECK_FALSE(d.mask_any_nonzero);
    REQUIRE(d.train_good == std::vector<std::string>{t / "widget/train/good/000.png", t / "widget/train/good/001.png"});
    REQUIRE(d.test.size() == 4);
    CHECK(images_of(d) == std::vector<std::string>{t / "widget/test/crack/000.png", t / "widget/test/crack/001.png",
                                                    t / "widget/test/good/000.png", t / "widget/test/scratch/000.png"});
    CHECK(d.test[0].label == 1);
    CHECK(d.test[0].defect == "crack");
    CHECK(d.test[0].mask == t / "widget/ground_truth/crack/000_mask.png");
    CHECK(d.test[1].mask == t / "widget/ground_truth/crack/001_mask.png");
    CHECK(d.test[2].label == 0);
    CHECK(d.test[2].defect == "good");
    CHECK(d.test[2].mask.empty());
    CHECK(d.test[3].defect == "scratch");
    CHECK(data::summary(d) == kind + "/widget: 2 train, 4 test (1 good, 3 anomalous in 2 defect types)");
  }
  CHECK(data::known_categories(data::DatasetKind::mvtec).size() == 15);
  CHECK(data::known_categories(data::DatasetKind::mvtec).front() == "bottle");
  CHECK(data::known_categories(data::DatasetKind::visa).size() == 12);
  CHECK(data::known_categories(data::DatasetKind::mpdd).size() == 6);
  CHECK(data::known_categories(data::DatasetKind::folder).empty());
}

TEST_CASE("list_categories reads what is on disk", "[dataset]") {
  TempDir t("list");
  make_mvtec(t, "widget");
  make_mvtec(t, "bolt");
  fs::create_directories(t / "stray/test/good");  // no train/good: not a category
  write_file(t / "readme.txt", "x");
  CHECK(data::list_categories("mvtec", t.str()) == std::vector<std::string>{"bolt", "widget"});
  CHECK(data::list_categories(data::DatasetKind::mpdd, t.str()) == std::vector<std::string>{"bolt", "widget"});
  CHECK(data::list_categories("folder", t / "widget") == std::vector<std::string>{"widget"});
  CHECK(data::list_categories("folder", t / "widget/") == std::vector<std::string>{"widget"});
  TempDir empty("list_empty");
  CHECK_THROWS_PACKD(data::list_categories("mvtec", empty.str()), "no categories under");
  CHECK_THROWS_PACKD(data::list_categories("mvtec", t / "nope"), "does not exist");
  CHECK_THROWS_PACKD(data::list_categories("kolektor", t.str()), "unknown data set kind 'kolektor'");
  CHECK_THROWS_PACKD(data::open_dataset("btad", t.str(), "widget"), "expected mvtec, visa, mpdd or folder");
}

TEST_CASE("mvtec reader errors name the path", "[dataset]") {
  TempDir t("mvtec_errors");
  make_mvtec(t);
  CHECK_THROWS_PACKD(data::mvtec(t / "missing_root", "widget"), "data set root " + t / "missing_root" + " does not exist");
  write_file(t / "a_file", "x");
  CHECK_THROWS_PACKD(data::mvtec(t / "a_file", "widget"), "is not a directory");
  CHECK_THROWS_PACKD(data::mvtec(t.str(), "bottle"), "category 'bottle' not found");
  CHECK_THROWS_PACKD(data::mvtec(t.str(), "bottle"), "categories under " + t.str() + ": widget");
  CHECK_THROWS_PACKD(data::mvtec(t.str(), "../x"), "invalid category name");
  CHECK_THROWS_PACKD(data::mpdd(t.str(), ""), "invalid category name");

  fs::create_directories(t / "no_train/test/good");
  CHECK_THROWS_PACKD(data::mvtec(t.str(), "no_train"), "training folder " + t / "no_train/train/good" + " does not exist");
  fs::create_directories(t / "empty_train/train/good");
  write_file(t / "empty_train/train/good/list.txt", "x");
  CHECK_THROWS_PACKD(data::mvtec(t.str(), "empty_train"), t / "empty_train/train/good" + " holds no images");
  CHECK_THROWS_PACKD(data::mvtec(t.str(), "empty_train"), "1 other files ignored");

  fs::remove(t / "widget/ground_truth/crack/001_mask.png");
  CHECK_THROWS_PACKD(data::mvtec(t.str(), "widget"), "anomalous test image " + t / "widget/test/crack/001.png" + " has no mask");
  CHECK_THROWS_PACKD(data::mpdd(t.str(), "widget"), "expected " + t / "widget/ground_truth/crack/001_mask.png");
  // A missing test/ folder is allowed (meta-training needs only train/good).
  fs::remove_all(t / "widget/test");
  const CategoryData d = data::mvtec(t.str(), "widget");
  CHECK(d.train_good.size() == 2);
  CHECK(d.test.empty());
}

TEST_CASE("visa reader: raw archive through split_csv/1cls.csv", "[dataset]") {
  TempDir t("visa_raw");
  Image rgb = solid(8, 8, 3, 0);
  for (std::size_t i = 0; i < rgb.pixels.size(); ++i) rgb.pixels[i] = uint8_t(i * 7);
  for (const char* n : {"0002", "0001", "0003"}) write_bytes(t / (std::string("candle/Data/Images/Normal/") + n + ".JPG"), jpeg_bytes(rgb));
  for (const char* n : {"001", "000"}) write_bytes(t / (std::string("candle/Data/Images/Anomaly/") + n + ".JPG"), jpeg_bytes(rgb));
  mask_png(t / "candle/Data/Masks/Anomaly/000.png", 1);  // label ids, not 0 / 255
  mask_png(t / "candle/Data/Masks/Anomaly/001.png", 2);
  png(t / "pcb1/Data/Images/Normal/0000.JPG");
  // CRLF line ends and a quoted field, as a spreadsheet may write them.
  write_file(t / "split_csv/1cls.csv",
             "object,split,label,image,mask\r\n"
             "candle,train,normal,candle/Data/Images/Normal/0002.JPG,\r\n"
             "candle,train,normal,\"candle/Data/Images/Normal/0001.JPG\",\r\n"
             "candle,test,anomaly,candle/Data/Images/Anomaly/001.JPG,candle/Data/Masks/Anomaly/001.png\r\n"
             "pcb1,train,normal,pcb1/Data/Images/Normal/0000.JPG,\r\n"
             "candle,test,normal,candle/Data/Images/Normal/0003.JPG,\r\n"
             "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\r\n");
  const CategoryData d = data::visa(t.str(), "candle");
  CHECK(d.dataset == "visa");
  CHECK(d.mask_any_nonzero);
  CHECK(d.train_good == std::vector<std::string>{t / "candle/Data/Images/Normal/0001.JPG", t / "candle/Data/Images/Normal/0002.JPG"});
  REQUIRE(d.test.size() == 3);
  CHECK(images_of(d) == std::vector<std::string>{t / "candle/Data/Images/Anomaly/000.JPG", t / "candle/Data/Images/Anomaly/001.JPG",
                                                  t / "candle/Data/Images/Normal/0003.JPG"});
  CHECK(d.test[0].label == 1);
  CHECK(d.test[0].defect == "bad");
  CHECK(d.test[0].mask == t / "candle/Data/Masks/Anomaly/000.png");
  CHECK(d.test[2].label == 0);
  CHECK(d.test[2].defect == "good");
  CHECK(d.test[2].mask.empty());
  CHECK(data::list_categories("visa", t.str()) == std::vector<std::string>{"candle", "pcb1"});

  // Label-id masks: RD4AD's >= 128 would see nothing; load_sample_mask binarises any nonzero.
  const packd::Tensor<float> plain = data::load_mask(d.test[0].mask, 8);
  const packd::Tensor<float> m = data::load_sample_mask(d, d.test[0], 8);
  CHECK(packd::sum(plain).item() == 0.0f);
  CHECK(packd::sum(m).item() == 16.0f);
  CHECK(m.shape() == packd::Shape{1, 1, 8, 8});
  CHECK(packd::sum(data::load_sample_mask(d, d.test[2], 8)).item() == 0.0f);

  data::ValidationReport r;
  CategoryData copy = d;
  data::validate(copy, false, r);
  CHECK(r.ok());
  CHECK(r.checked == 7);
}

TEST_CASE("visa reader: csv errors", "[dataset]") {
  TempDir t("visa_errors");
  png(t / "candle/Data/Images/Normal/0000.JPG");
  png(t / "candle/Data/Images/Anomaly/000.JPG");
  const std::string header = "object,split,label,image,mask\n";
  const std::string train = "candle,train,normal,candle/Data/Images/Normal/0000.JPG,\n";
  auto csv = [&](const std::string& body) { write_file(t / "split_csv/1cls.csv", body); };
  csv(header + train + "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,\n");
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), "1cls.csv:3: anomalous test image " + t / "candle/Data/Images/Anomaly/000.JPG" +
                                                        " has no mask");
  csv(header + train + "candle,test,anomaly,candle/Data/Images/Anomaly/000.JPG,candle/Data/Masks/Anomaly/000.png\n");
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), t / "candle/Data/Masks/Anomaly/000.png" + " does not exist");
  csv(header + train + "candle,test,normal,candle/Data/Images/Normal/9999.JPG,\n");
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), "image " + t / "candle/Data/Images/Normal/9999.JPG" + " does not exist");
  csv(header + train + "candle,test,broken,candle/Data/Images/Normal/0000.JPG,\n");
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), "label 'broken' is neither normal nor anomaly");
  csv(header + train + "candle,val,normal,candle/Data/Images/Normal/0000.JPG,\n");
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), "split 'val' is neither train nor test");
  csv(header + "candle,test,normal,candle/Data/Images/Normal/0000.JPG,\n");
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), "lists no training images for category 'candle'");
  csv(header + train);
  CHECK_THROWS_PACKD(data::visa(t.str(), "pcb1"), "category 'pcb1' is not in " + t / "split_csv/1cls.csv" + " (it lists candle)");
  csv("object,split,label,image\n" + train);
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), "no column 'mask'");
  csv(header + "candle,train,normal\n");
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), "1cls.csv:2: 3 fields, the header has 5");
  csv(header + "candle,train,normal,\"candle/Data\n");
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), "unterminated quoted field");
  csv(header + train);
  fs::remove_all(t / "candle");
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), "category folder " + t / "candle" + " does not exist");
}

TEST_CASE("visa reader: anomalib's converted layout", "[dataset]") {
  TempDir t("visa_conv");
  png(t / "candle/train/good/0001.JPG");
  png(t / "candle/train/good/0000.JPG");
  png(t / "candle/test/good/0100.JPG");
  png(t / "candle/test/bad/000.JPG");
  mask_png(t / "candle/ground_truth/bad/000.png");
  const CategoryData d = data::open_dataset(data::DatasetKind::visa, t.str(), "candle");
  CHECK(d.mask_any_nonzero);
  CHECK(d.train_good.size() == 2);
  REQUIRE(d.test.size() == 2);
  CHECK(d.test[0].defect == "bad");
  CHECK(d.test[0].mask == t / "candle/ground_truth/bad/000.png");
  CHECK(data::list_categories("visa", t.str()) == std::vector<std::string>{"candle"});
  CHECK(packd::sum(data::load_sample_mask(d, d.test[0], 8)).item() == 16.0f);  // 0 / 255 masks: unchanged
  png(t / "candle/test/bad/001.JPG");
  CHECK_THROWS_PACKD(data::visa(t.str(), "candle"), "expected " + t / "candle/ground_truth/bad/001.png");
  CHECK_THROWS_PACKD(data::visa(t.str(), "fryum"), "neither " + t.str() + "/split_csv/1cls.csv");
}

TEST_CASE("folder reader: a user's own parts", "[dataset]") {
  TempDir t("folder");
  const std::string root = t / "my_parts";
  png(root + "/train/good/a.png");
  png(root + "/train/good/b.jpeg");
  png(root + "/test/good/c.png");
  png(root + "/test/dent/1.png");
  png(root + "/test/dent/2.png");
  png(root + "/test/dent/3.png");
  mask_png(root + "/ground_truth/dent/1_mask.png");
  mask_png(root + "/ground_truth/dent/2.png");
  const CategoryData d = data::open_dataset("folder", root, "");
  CHECK(d.dataset == "folder");
  CHECK(d.category == "my_parts");
  CHECK(d.train_good.size() == 2);
  REQUIRE(d.test.size() == 4);
  CHECK(d.test[0].mask == root + "/ground_truth/dent/1_mask.png");
  CHECK(d.test[1].mask == root + "/ground_truth/dent/2.png");
  CHECK(d.test[2].mask.empty());  // masks are optional here
  CHECK(d.test[2].label == 1);
  CHECK(d.test[3].label == 0);
  CHECK(data::summary(d) == "folder/my_parts: 2 train, 4 test (1 good, 3 anomalous in 1 defect type, 1 without a mask)");
  CHECK(data::folder(root + "/", "").category == "my_parts");
  CHECK(data::folder(root, "renamed").category == "renamed");
  CHECK_THROWS_PACKD(data::load_sample_mask(d, d.test[2], 8), "anomalous image " + root + "/test/dent/3.png has no mask");
  CHECK(packd::sum(data::load_sample_mask(d, d.test[0], 8)).item() == 16.0f);
  CHECK_THROWS_PACKD(data::load_sample_mask(d, d.test[0], 0), "size must be positive");

  fs::remove_all(root + "/test");
  CHECK(data::folder(root).test.empty());
  fs::remove_all(root + "/train");
  CHECK_THROWS_PACKD(data::folder(root), "training folder " + root + "/train/good does not exist");
}

TEST_CASE("validate: corrupt, truncated and mismatched files; skip_bad", "[dataset]") {
  TempDir t("validate");
  make_mvtec(t);
  for (const bool full : {true, false}) {
    INFO("full_decode " << full);
    CategoryData clean = data::mvtec(t.str(), "widget");
    data::ValidationReport ok;
    data::validate(clean, false, ok, full);
    CHECK(ok.ok());
    CHECK(ok.checked == 2 + 4 + 3);
    CHECK(clean.test.size() == 4);
  }

  // A truncated PNG in train, a text file named .png in test, a mask of the wrong size.
  const std::vector<uint8_t> full_png = data::encode_png(solid(16, 16, 3, 7));
  write_bytes(t / "widget/train/good/002.png", std::vector<uint8_t>(full_png.begin(), full_png.begin() + std::ptrdiff_t(full_png.size() / 2)));
  write_file(t / "widget/test/crack/002.png", "this is not a PNG");
  mask_png(t / "widget/ground_truth/crack/002_mask.png");
  png(t / "widget/ground_truth/scratch/000_mask.png", solid(4, 4, 1, 255));
  for (const bool full : {true, false}) {
    INFO("full_decode " << full);
    CategoryData d = data::mvtec(t.str(), "widget");
    REQUIRE(d.train_good.size() == 3);
    REQUIRE(d.test.size() == 5);
    data::ValidationReport r;
    CHECK_THROWS_PACKD(data::validate(d, false, r, full), t / "widget/train/good/002.png");
    CHECK_THROWS_PACKD(data::validate(d, false, r, full), "(and 2 more bad files; skip_bad removes them)");
    CHECK(d.train_good.size() == 3);  // unchanged without skip_bad
    data::ValidationReport r2;
    data::validate(d, true, r2, full);
    CHECK_FALSE(r2.ok());
    REQUIRE(r2.problems.size() == 3);
    CHECK_THAT(r2.problems[0], Catch::Matchers::Contains(t / "widget/train/good/002.png"));
    CHECK_THAT(r2.problems[1], Catch::Matchers::Contains(t / "widget/test/crack/002.png"));
    CHECK_THAT(r2.problems[2], Catch::Matchers::Contains("mask of 4x4 for an image of 8x8"));
    CHECK(r2.removed_train == 1);
    CHECK(r2.removed_test == 2);
    CHECK(d.train_good.size() == 2);
    CHECK(images_of(d) == std::vector<std::string>{t / "widget/test/crack/000.png", t / "widget/test/crack/001.png",
                                                    t / "widget/test/good/000.png"});
    CHECK_THAT(r2.describe(), Catch::Matchers::Contains("3 bad; removed 1 training and 2 test images"));
  }
  if (!full_png.empty()) {
    // The PNG decoder refuses the cut file by itself: the full decode would catch it without the
    // trailer check (the header-only mode relies on the trailer).
    CHECK_THROWS_PACKD(data::decode_image(std::vector<uint8_t>(full_png.begin(), full_png.end() - 12)), "");
  }

  // Every training image bad: nothing left to train on, even with skip_bad.
  TempDir t2("validate_all_bad");
  write_file(t2 / "c/train/good/000.png", "garbage");
  CategoryData d2 = data::mvtec(t2.str(), "c");
  data::ValidationReport r3;
  CHECK_THROWS_PACKD(data::validate(d2, true, r3), "all 1 training images are unreadable");
}

TEST_CASE("validate: truncated JPEG and BMP", "[dataset]") {
  TempDir t("validate_jpeg");
  Image im = solid(32, 32, 3, 0);
  for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = uint8_t((i * 37) % 251);
  const std::vector<uint8_t> jpg = jpeg_bytes(im);
  write_bytes(t / "c/train/good/0.jpg", jpg);
  write_bytes(t / "c/train/good/1.jpg", std::vector<uint8_t>(jpg.begin(), jpg.begin() + std::ptrdiff_t(jpg.size() * 2 / 3)));
  // A BMP whose header declares more bytes than the file holds.
  std::vector<uint8_t> bmp(64, 0);
  bmp[0] = 'B', bmp[1] = 'M', bmp[2] = 0x00, bmp[3] = 0x10;  // 4096 bytes declared
  write_bytes(t / "c/train/good/2.bmp", bmp);
  for (const bool full : {true, false}) {
    CategoryData d = data::mvtec(t.str(), "c");
    data::ValidationReport r;
    data::validate(d, true, r, full);
    REQUIRE(r.problems.size() == 2);
    CHECK_THAT(r.problems[0], Catch::Matchers::Contains("truncated JPEG"));
    CHECK_THAT(r.problems[1], Catch::Matchers::Contains("truncated BMP (64 of 4096 bytes)"));
    CHECK(d.train_good == std::vector<std::string>{t / "c/train/good/0.jpg"});
  }
}

TEST_CASE("load_sample_mask matches load_mask for 0/255 masks", "[dataset]") {
  TempDir t("masks");
  make_mvtec(t);
  const CategoryData d = data::mvtec(t.str(), "widget");
  CHECK_CLOSE(data::load_sample_mask(d, d.test[0], 16), data::load_mask(d.test[0].mask, 16), 0, 0);
  const packd::Tensor<float> good = data::load_sample_mask(d, d.test[2], 16);
  CHECK(good.shape() == packd::Shape{1, 1, 16, 16});
  CHECK(packd::sum(good).item() == 0.0f);
}

TEST_CASE("real MVTec AD files through the mvtec reader", "[dataset][real]") {
  // shared/data/real/mvtec_ad (see its SOURCES.md): a subset of transistor and leather.
  const std::string root = std::string(PACKD_FIXTURE_DIR) + "/../../../../shared/data/real/mvtec_ad";
  if (!fs::is_directory(root)) {
    WARN("no real MVTec AD files at " << root << ": skipped");
    return;
  }
  const std::vector<std::string> cats = data::list_categories("mvtec", root);
  INFO("categories on disk: " << data::detail::join_names(cats));
  for (const std::string& cat : cats) {
    CHECK(std::find(data::known_categories(data::DatasetKind::mvtec).begin(),
                    data::known_categories(data::DatasetKind::mvtec).end(), cat) != data::known_categories(data::DatasetKind::mvtec).end());
    CategoryData d = data::mvtec(root, cat);
    INFO(data::summary(d));
    CHECK(!d.train_good.empty());
    CHECK(std::is_sorted(d.train_good.begin(), d.train_good.end()));
    int64_t bad = 0;
    for (const Sample& s : d.test) {
      CHECK(s.label == (s.defect == "good" ? 0 : 1));
      CHECK(s.mask.empty() == (s.label == 0));
      bad += s.label;
    }
    CHECK(bad > 0);
    data::ValidationReport r;
    data::validate(d, false, r, /*full_decode=*/false);  // headers and ends of every file (fast)
    CHECK(r.ok());
  }
  // One category fully decoded, and one mask through the RD4AD pipeline.
  CategoryData d = data::mvtec(root, cats.front());
  data::ValidationReport r;
  data::validate(d, false, r, true);
  CHECK(r.ok());
  for (const Sample& s : d.test)
    if (s.label == 1) {
      const packd::Tensor<float> m = data::load_sample_mask(d, s, 64);
      CHECK(packd::sum(m).item() > 0.0f);
      break;
    }
}
