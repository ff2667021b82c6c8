// Image I/O (include/packd/data/image.hpp) against Pillow 9.4 + torchvision 0.14
// (tests/reference/make_image_fixtures.py): decoding, the bilinear resize, ToTensor + Normalize,
// the image and mask pipelines, PNG writing, heat maps and the error paths.
#include "packd/data/image.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "testing.hpp"

using packd::Tensor;
using packd::data::Image;
namespace fs = std::filesystem;

namespace {

const packd::io::SafetensorsFile& fx() { return packd::testing::fixture("image"); }

std::string fixture_file(const std::string& name) { return std::string(PACKD_FIXTURE_DIR) + "/" + name; }

// The fixture script's checksum: sum_i a[i] * ((i * 2654435761) % 1000003).
int64_t checksum(const std::vector<uint8_t>& a) {
  int64_t s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += int64_t(a[i]) * ((int64_t(i) * 2654435761LL) % 1000003LL);
  return s;
}

std::vector<uint8_t> as_u8(const Tensor<float>& t) {
  std::vector<uint8_t> v;
  for (float x : t.to_vector()) v.push_back(uint8_t(x));
  return v;
}

// Empty if `got` equals the uint8 array NAME (or, for big arrays, NAME.checksum and NAME.row).
std::string mismatch_u8(const Image& got, const std::string& name) {
  std::ostringstream os;
  if (fx().contains(name)) {
    const Tensor<float> e = fx().get<float>(name);
    const int64_t ec = e.dim() == 3 ? e.size(2) : 1;
    if (e.size(0) != got.height || e.size(1) != got.width || ec != got.channels) {
      os << "size " << got.height << "x" << got.width << "x" << got.channels << " != expected " << e.shape();
      return os.str();
    }
    const std::vector<uint8_t> ev = as_u8(e);
    int64_t bad = 0, first = -1;
    for (std::size_t i = 0; i < ev.size(); ++i)
      if (ev[i] != got.pixels[i]) bad++, first = first < 0 ? int64_t(i) : first;
    if (bad) os << bad << " of " << ev.size() << " values differ; first at " << first << ": " << int(got.pixels[std::size_t(first)])
                << " vs " << int(ev[std::size_t(first)]);
    return os.str();
  }
  const std::vector<uint8_t> row = as_u8(fx().get<float>(name + ".row"));
  const int64_t row_len = got.width * got.channels;
  if (int64_t(row.size()) != row_len) {
    os << "row of " << row_len << " values, expected " << row.size();
    return os.str();
  }
  const auto mid = got.pixels.begin() + std::ptrdiff_t(got.height / 2 * row_len);
  for (int64_t i = 0; i < row_len; ++i)
    if (mid[i] != row[std::size_t(i)]) {
      os << "middle row differs at " << i << ": " << int(mid[i]) << " vs " << int(row[std::size_t(i)]);
      return os.str();
    }
  const int64_t expected = fx().get<int64_t>(name + ".checksum").item();
  if (checksum(got.pixels) != expected) os << "checksum " << checksum(got.pixels) << " != " << expected;
  return os.str();
}

#define CHECK_IMAGE(got, name)                                \
  do {                                                        \
    const std::string packd_m_ = mismatch_u8((got), (name));  \
    INFO("fixture " << (name) << ": " << packd_m_);           \
    CHECK(packd_m_.empty());                                  \
  } while (0)

// An Image from a stored uint8 array (H, W, 3) or (H, W).
Image fixture_image(const std::string& name) {
  const Tensor<float> t = fx().get<float>(name);
  return Image{t.size(0), t.size(1), t.dim() == 3 ? t.size(2) : 1, as_u8(t)};
}

float max_abs_diff(const Tensor<float>& a, const Tensor<float>& b) {
  REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector(), y = b.to_vector();
  float m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

struct Case {
  const char* name;
  const char* file;
};
// Lossless files: stb_image must give exactly PIL's pixels.
const Case kLossless[] = {{"rgb_noise", "image_rgb_noise.png"}, {"grey_noise", "image_grey_noise.png"},
                          {"pattern", "image_pattern.png"},     {"mask_256", "image_mask_256.png"},
                          {"rgba", "image_rgba.png"},           {"la", "image_la.png"},
                          {"palette", "image_palette.png"},     {"bilevel", "image_bilevel.png"},
                          {"rgb16", "image_rgb16.png"},         {"grey16", "image_grey16.png"},
                          {"bmp", "image_noise.bmp"}};

// The (h, w) of every stored resize of a case: keys CASE.resize_HxW[.checksum].
std::vector<std::pair<int64_t, int64_t>> resizes_of(const std::string& name) {
  std::vector<std::pair<int64_t, int64_t>> out;
  const std::string prefix = name + ".resize_";
  for (const auto& [key, raw] : fx().tensors) {
    if (key.rfind(prefix, 0) != 0 || key.find(".row") != std::string::npos) continue;
    long long h = 0, w = 0;
    REQUIRE(std::sscanf(key.c_str() + prefix.size(), "%lldx%lld", &h, &w) == 2);
    out.emplace_back(h, w);
  }
  return out;
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("packd_test_image_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("decoding matches PIL's convert('RGB') and convert('L') for PNG and BMP") {
  for (const Case& c : kLossless) {
    INFO("case " << c.name);
    CHECK_IMAGE(packd::data::read_image(fixture_file(c.file), 3), std::string(c.name) + ".rgb");
    CHECK_IMAGE(packd::data::read_image(fixture_file(c.file), 1), std::string(c.name) + ".grey");
  }
}

TEST_CASE("other channel counts follow PIL's conversions") {
  const Image rgba = packd::data::read_image(fixture_file("image_rgba.png"), 4);
  const Image rgb = packd::data::read_image(fixture_file("image_rgba.png"), 3);
  REQUIRE(rgba.channels == 4);
  bool alpha_varies = false;
  for (int64_t i = 0; i < rgba.height * rgba.width; ++i) {
    for (int c = 0; c < 3; ++c) REQUIRE(rgba.pixels[std::size_t(i * 4 + c)] == rgb.pixels[std::size_t(i * 3 + c)]);
    alpha_varies = alpha_varies || rgba.pixels[std::size_t(i * 4 + 3)] != 255;
  }
  CHECK(alpha_varies);
  // grey -> RGB replicates, RGB -> RGBA adds an opaque alpha
  const Image grey = packd::data::read_image(fixture_file("image_grey_noise.png"), 1);
  const Image grey3 = packd::data::read_image(fixture_file("image_grey_noise.png"), 3);
  const Image grey4 = packd::data::convert_channels(grey3, 4);
  for (int64_t i = 0; i < grey.height * grey.width; ++i)
    for (int c = 0; c < 3; ++c) {
      REQUIRE(grey3.pixels[std::size_t(i * 3 + c)] == grey.pixels[std::size_t(i)]);
      REQUIRE(grey4.pixels[std::size_t(i * 4 + c)] == grey.pixels[std::size_t(i)]);
      REQUIRE(grey4.pixels[std::size_t(i * 4 + 3)] == 255);
    }
  // decoding from memory gives the same image as from the file
  const std::string bytes = read_bytes(fixture_file("image_rgb_noise.png"));
  const Image mem = packd::data::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 3);
  CHECK(mem.pixels == packd::data::read_image(fixture_file("image_rgb_noise.png")).pixels);
}

TEST_CASE("JPEG decoding is within a few levels of Pillow's libjpeg") {
  const Image got = packd::data::read_image(fixture_file("image_photo.jpg"), 3);
  const Image pil = fixture_image("photo.rgb");
  REQUIRE(got.height == pil.height);
  REQUIRE(got.width == pil.width);
  int max_diff = 0;
  double mean_diff = 0;
  for (std::size_t i = 0; i < got.pixels.size(); ++i) {
    const int d = std::abs(int(got.pixels[i]) - int(pil.pixels[i]));
    max_diff = std::max(max_diff, d);
    mean_diff += d;
  }
  mean_diff /= double(got.pixels.size());
  INFO("stb_image vs libjpeg: max |diff| " << max_diff << ", mean |diff| " << mean_diff);
  CHECK(max_diff <= 4);
  CHECK(mean_diff < 0.5);
}

TEST_CASE("resize_bilinear_pillow equals Pillow's Image.resize(BILINEAR) exactly") {
  for (const Case& c : kLossless) {
    const Image im = packd::data::read_image(fixture_file(c.file), 3);
    for (const auto& [h, w] : resizes_of(c.name)) {
      INFO("case " << c.name << " " << im.height << "x" << im.width << " -> " << h << "x" << w);
      CHECK_IMAGE(packd::data::resize_bilinear_pillow(im, h, w), std::string(c.name) + ".resize_" + std::to_string(h) + "x" +
                                                                    std::to_string(w));
    }
  }
  // JPEG: resize Pillow's own decoded pixels, so the decoder difference stays out
  const Image photo = fixture_image("photo.rgb");
  CHECK_IMAGE(packd::data::resize_bilinear_pillow(photo, 20, 30), "photo.resize_20x30");
  // grey images resize channel by channel like their RGB conversion
  const Image grey = packd::data::read_image(fixture_file("image_grey_noise.png"), 1);
  const Image g = packd::data::resize_bilinear_pillow(grey, 64, 48);
  CHECK_IMAGE(packd::data::convert_channels(g, 3), "grey_noise.resize_64x48");
  // same size: a copy
  CHECK(packd::data::resize_bilinear_pillow(grey, grey.height, grey.width).pixels == grey.pixels);
}

TEST_CASE("resize_bilinear_pillow: 1024x1024 RGB -> 256x256 matches Pillow, and is fast") {
  // the fixture script's formula
  Image big{1024, 1024, 3, std::vector<uint8_t>(1024 * 1024 * 3)};
  for (int64_t y = 0; y < 1024; ++y)
    for (int64_t x = 0; x < 1024; ++x)
      for (int64_t c = 0; c < 3; ++c)
        big.at(y, x, c) =
            uint8_t(((((x * 73856093) ^ (y * 19349663) ^ (c * 83492791)) >> 7) & 63) + (x + y) / 20 + 40 * c);
  Image out = packd::data::resize_bilinear_pillow(big, 256, 256);  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  const int reps = 5;
  for (int r = 0; r < reps; ++r) out = packd::data::resize_bilinear_pillow(big, 256, 256);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
  CHECK(checksum(out.pixels) == fx().get<int64_t>("big.resize_256x256.checksum").item());
  WARN("resize_bilinear_pillow 1024x1024x3 -> 256x256: " << ms << " ms");
  CHECK(ms < 200);  // a few ms on one core; generous for a loaded machine
}

TEST_CASE("image_to_tensor equals torchvision ToTensor + Normalize") {
  const Image im = packd::data::read_image(fixture_file("image_rgb_noise.png"), 3);
  const Tensor<float> t = packd::data::image_to_tensor(im);
  const Tensor<float> e = fx().get<float>("rgb_noise.tensor");
  REQUIRE(t.shape() == e.shape());
  CHECK(max_abs_diff(t, e) == 0.0f);  // same float32 operations in the same order
  // without normalisation: v / 255
  const Tensor<float> raw = packd::data::image_to_tensor(im, false);
  CHECK(raw.at({1, 5, 7}) == float(im.at(5, 7, 1)) / 255.0f);
  // and back for display
  CHECK(packd::data::tensor_to_image(t).pixels == im.pixels);
  CHECK(packd::data::tensor_to_image(raw, false).pixels == im.pixels);
}

TEST_CASE("load_image is RD4AD's image pipeline") {
  const Tensor<float> t64 = packd::data::load_image(fixture_file("image_pattern.png"), 64);
  CHECK(t64.shape() == packd::Shape{1, 3, 64, 64});
  CHECK(max_abs_diff(t64, fx().get<float>("pattern.load_64")) <= 1e-6f);

  const Tensor<float> t = packd::data::load_image(fixture_file("image_pattern.png"), 256);
  CHECK(t.shape() == packd::Shape{1, 3, 256, 256});
  const Tensor<float> row = t.select(0, 0).select(1, 77);  // (3, 256)
  CHECK(max_abs_diff(row.contiguous(), fx().get<float>("pattern.load_256.row")) <= 1e-6f);
  const auto sums = fx().get<double>("pattern.load_256.sum").to_vector();
  const auto v = t.to_vector();
  for (int c = 0; c < 3; ++c) {
    double s = 0;
    for (int64_t i = 0; i < 256 * 256; ++i) s += v[std::size_t(c * 256 * 256 + i)];
    CHECK(s == Approx(sums[std::size_t(c)]).margin(1e-6));
  }
  // a grey file goes through RGB replication
  const Tensor<float> g = packd::data::load_image(fixture_file("image_grey_noise.png"), 16);
  CHECK(g.shape() == packd::Shape{1, 3, 16, 16});
}

TEST_CASE("load_mask is RD4AD's ground-truth pipeline, binarised at 0.5") {
  CHECK_CLOSE(packd::data::load_mask(fixture_file("image_mask_256.png"), 64), fx().get<float>("mask_256.mask_64"), 0, 0);
  CHECK_CLOSE(packd::data::load_mask(fixture_file("image_mask_256.png"), 33), fx().get<float>("mask_256.mask_33"), 0, 0);
  CHECK_CLOSE(packd::data::load_mask(fixture_file("image_grey_noise.png"), 64), fx().get<float>("grey_noise.mask_64"), 0, 0);
  // an RGB file goes through Pillow's luma first
  CHECK_CLOSE(packd::data::load_mask(fixture_file("image_rgb_noise.png"), 16), fx().get<float>("rgb_noise.mask_16"), 0, 0);
  // at its own size the mask is the file thresholded at 128
  const Image m = packd::data::read_image(fixture_file("image_mask_256.png"), 1);
  const auto v = packd::data::load_mask(fixture_file("image_mask_256.png"), 256).to_vector();
  int64_t ones = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    REQUIRE(v[i] == (m.pixels[i] >= 128 ? 1.0f : 0.0f));
    ones += int64_t(v[i]);
  }
  CHECK(ones > 1000);
}

TEST_CASE("the pipeline on a real MVTec AD image (skipped when shared/data/real is absent)") {
  // The data set is CC BY-NC-SA and not in the repository; the fixture keeps only summary numbers.
  const char* env = std::getenv("PACKD_REAL_DATA");
  const std::string root = env ? env : std::string(PACKD_FIXTURE_DIR) + "/../../../../shared/data/real/mvtec_ad";
  if (!fx().contains("real.image.sum") || !fs::exists(root + "/" + fx().metadata.at("real_image"))) {
    WARN("skipped: no real data at " << root);
    return;
  }
  const std::string image = root + "/" + fx().metadata.at("real_image");
  const std::string mask = root + "/" + fx().metadata.at("real_mask");
  const Image resized = packd::data::resize_bilinear_pillow(packd::data::read_image(image), 256, 256);
  CHECK(checksum(resized.pixels) == fx().get<int64_t>("real.image.resized.checksum").item());

  const Tensor<float> t = packd::data::load_image(image, 256);
  const auto v = t.to_vector();
  const auto sum = fx().get<double>("real.image.sum").to_vector();
  const auto sumsq = fx().get<double>("real.image.sumsq").to_vector();
  for (int c = 0; c < 3; ++c) {
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < 256 * 256; ++i) {
      const double x = v[std::size_t(c * 256 * 256 + i)];
      s += x, s2 += x * x;
    }
    CHECK(s == Approx(sum[std::size_t(c)]).margin(1e-6));
    CHECK(s2 == Approx(sumsq[std::size_t(c)]).margin(1e-6));
  }
  const auto picks = fx().get<int64_t>("real.image.picks").to_vector();
  const auto values = fx().get<float>("real.image.values").to_vector();
  for (std::size_t i = 0; i < values.size(); ++i)
    CHECK(t.at({0, picks[i * 3], picks[i * 3 + 1], picks[i * 3 + 2]}) == values[i]);

  const auto m = packd::data::load_mask(mask, 256).to_vector();
  std::vector<uint8_t> mu8(m.begin(), m.end());
  int64_t ones = 0;
  for (float x : m) ones += int64_t(x);
  CHECK(ones == fx().get<int64_t>("real.mask.ones").item());
  CHECK(checksum(mu8) == fx().get<int64_t>("real.mask.checksum").item());
}

TEST_CASE("write_png writes a file read_image reads back unchanged") {
  TempDir dir;
  for (int64_t c = 1; c <= 4; ++c) {
    Image im{13, 7, c, {}};
    for (std::size_t i = 0; i < std::size_t(13 * 7 * c); ++i) im.pixels.push_back(uint8_t(i * 37 + 11));
    const std::string path = dir.file("out" + std::to_string(c) + ".png");
    packd::data::write_png(path, im);
    const Image back = packd::data::read_image(path, c);
    CHECK(back.height == 13);
    CHECK(back.width == 7);
    CHECK(back.pixels == im.pixels);
  }
  // written atomically: nothing left but the files
  int64_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) files += e.path().extension() == ".png";
  CHECK(files == 4);
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator{}) == 4);
  CHECK_THROWS_PACKD(packd::data::write_png(dir.file("missing/dir/x.png"), Image{1, 1, 1, {0}}), "missing/dir/x.png");
  CHECK_THROWS_PACKD(packd::data::write_png(dir.file("bad.png"), Image{2, 2, 3, {0, 1}}), "bad.png");
}

TEST_CASE("heat maps and overlays") {
  using packd::data::jet;
  CHECK(jet(0.0f) == std::array<uint8_t, 3>{0, 0, 128});
  CHECK(jet(0.5f) == std::array<uint8_t, 3>{128, 255, 128});
  CHECK(jet(1.0f) == std::array<uint8_t, 3>{128, 0, 0});
  CHECK(jet(-3.0f) == jet(0.0f));
  CHECK(jet(7.0f) == jet(1.0f));
  CHECK(jet(std::nanf("")) == std::array<uint8_t, 3>{0, 0, 0});

  // a ramp (1, 1, 2, 5): its own range maps the ends to the ends of the colormap
  Tensor<float> map = packd::from_vector<float>({0.f, 1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f, 9.f}, {1, 1, 2, 5});
  const Image h = packd::data::heatmap(map);
  CHECK(h.height == 2);
  CHECK(h.width == 5);
  CHECK(h.channels == 3);
  CHECK((std::array<uint8_t, 3>{h.at(0, 0, 0), h.at(0, 0, 1), h.at(0, 0, 2)}) == jet(0.0f));
  CHECK((std::array<uint8_t, 3>{h.at(1, 4, 0), h.at(1, 4, 1), h.at(1, 4, 2)}) == jet(1.0f));
  const Image hf = packd::data::heatmap(map, 0.0f, 18.0f);  // fixed range: 9 is the middle
  CHECK((std::array<uint8_t, 3>{hf.at(1, 4, 0), hf.at(1, 4, 1), hf.at(1, 4, 2)}) == jet(0.5f));
  CHECK(packd::data::heatmap(packd::zeros<float>({3, 4})).pixels.size() == 36);  // constant map: no division by 0

  const Image base{2, 5, 1, std::vector<uint8_t>(10, 200)};
  CHECK(packd::data::overlay(base, h, 0.0f).pixels == packd::data::convert_channels(base, 3).pixels);
  CHECK(packd::data::overlay(base, h, 1.0f).pixels == h.pixels);
  const Image half = packd::data::overlay(base, h, 0.5f);
  CHECK(half.at(0, 0, 2) == uint8_t(std::nearbyint(0.5f * 200 + 0.5f * 128)));
  // a map at a different size is resized to the image
  const Image big{20, 50, 3, std::vector<uint8_t>(3000, 50)};
  const Image over = packd::data::overlay_heatmap(big, map, 0.0f, 9.0f, 0.4f);
  CHECK(over.height == 20);
  CHECK(over.width == 50);
  CHECK_THROWS_PACKD(packd::data::overlay(base, big, 0.5f), "resize");
  CHECK_THROWS_PACKD(packd::data::overlay(base, h, 1.5f), "alpha");
  CHECK_THROWS_PACKD(packd::data::heatmap(packd::zeros<float>({2, 3, 4})), "(H, W)");
  CHECK_THROWS_PACKD(packd::data::heatmap(map, 1.0f, 0.0f), "lo <= hi");
}

TEST_CASE("bad files and bad arguments throw packd::Error naming the file") {
  TempDir dir;
  using packd::data::read_image;
  const std::string missing = dir.file("no_such_image.png");
  CHECK_THROWS_PACKD(read_image(missing), "no_such_image.png");
  CHECK_THROWS_PACKD(read_image(missing), "No such file");
  CHECK_THROWS_PACKD(read_image(dir.path.string()), "not a regular file");

  // a PNG cut anywhere after its header fails to decode
  const std::string png = read_bytes(fixture_file("image_rgb_noise.png"));
  for (std::size_t keep : {std::size_t(8), std::size_t(40), png.size() / 2, png.size() - 13}) {
    const std::string cut = dir.file("cut" + std::to_string(keep) + ".png");
    write_bytes(cut, png.substr(0, keep));
    INFO("PNG cut to " << keep << " of " << png.size() << " bytes");
    CHECK_THROWS_PACKD(read_image(cut), cut);
    CHECK_THROWS_PACKD(read_image(cut), "stb_image");
  }
  const std::string text = dir.file("notes.png");
  write_bytes(text, "this is not an image, just text that happens to be named .png\n");
  CHECK_THROWS_PACKD(read_image(text), "notes.png");
  CHECK_THROWS_PACKD(read_image(text), "not a PNG, JPEG or BMP");
  const std::string empty = dir.file("empty.png");
  write_bytes(empty, "");
  CHECK_THROWS_PACKD(read_image(empty), "empty");
  // an unsupported format (GIF) is refused, not misread
  const std::string gif = dir.file("tiny.gif");
  write_bytes(gif, std::string("GIF89a\x01\x00\x01\x00\x00\x00\x00;", 14));
  CHECK_THROWS_PACKD(read_image(gif), "tiny.gif");
  // a corrupt JPEG (valid start, garbage after) is refused or decodes to the right size; never a crash
  const std::string jpg = read_bytes(fixture_file("image_photo.jpg"));
  const std::string bad_jpg = dir.file("cut.jpg");
  write_bytes(bad_jpg, jpg.substr(0, 200));
  try {
    const Image im = read_image(bad_jpg);
    CHECK(im.pixels.size() == std::size_t(48 * 64 * 3));
  } catch (const packd::Error& e) {
    CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("cut.jpg"));
  }

  // a Huffman table declaring more than 256 codes (stb 2.27 would write past its arrays)
  std::string dht = jpg;
  const std::size_t at = dht.find("\xFF\xC4");
  REQUIRE(at != std::string::npos);
  for (std::size_t k = 0; k < 16; ++k) dht[at + 5 + k] = '\x40';  // 16 lengths x 64 codes
  const std::string bad_dht = dir.file("bad_dht.jpg");
  write_bytes(bad_dht, dht);
  CHECK_THROWS_PACKD(read_image(bad_dht), "bad_dht.jpg");
  CHECK_THROWS_PACKD(read_image(bad_dht), "Huffman table declares 1024 codes");

  CHECK_THROWS_PACKD(read_image(fixture_file("image_rgb_noise.png"), 0), "channels");
  CHECK_THROWS_PACKD(packd::data::load_image(fixture_file("image_rgb_noise.png"), 0), "size");
  CHECK_THROWS_PACKD(packd::data::load_mask(missing), "no_such_image.png");
  const Image im = read_image(fixture_file("image_rgb_noise.png"));
  CHECK_THROWS_PACKD(packd::data::resize_bilinear_pillow(im, 0, 5), "output size");
  CHECK_THROWS_PACKD(packd::data::resize_bilinear_pillow(Image{2, 2, 3, {1, 2, 3}}, 4, 4), "holds 3 bytes");
  CHECK_THROWS_PACKD(packd::data::image_to_tensor(Image{1, 1, 1, {0}}), "3 channels");
  CHECK_THROWS_PACKD(packd::data::tensor_to_image(packd::zeros<float>({2, 2})), "(C, H, W)");
}
