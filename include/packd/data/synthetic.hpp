#pragma once
// A built-in synthetic anomaly data set: procedurally drawn textures and objects in MVTec AD's
// layout, with defects drawn together with their exact masks, for demos, tests and smoke runs
// without a download. Deterministic from the seed (packd::Generator), and quick: the default 10
// categories x 40 images at 128 x 128 take about a second of CPU time (mostly PNG encoding),
// spread over the worker pool.
//
//   textures  checker, dots, grain, grid, stripes   (defects: color, hole, scratch)
//   objects   capsule, disc, hexnut, ring, tile      (defects: color, hole, missing, scratch)
//
// Normal images vary within a category: colour jitter, pattern period / phase / angle for
// textures, position / size / angle for objects, a background gradient, per-pixel noise.
// Defects: scratch = a thick curved line, hole = a dark irregular blob, color = an irregular
// stain of a vivid colour (blended 80 %), missing = a chip of the object cut away to the
// background (objects only); on objects each is clipped to the part.
//
// Masks are exact by construction: a pixel is written by a defect only where its new value
// differs from the normal one by at least kSyntheticMinDiff in some channel, and exactly those
// pixels are 255 in the mask (a defect colour too close to the normal pixel is swapped for the
// RGB-cube corner farthest from it). Outside the mask the defective image equals the normal image
// it was drawn on, bit for bit (render_synthetic returns both).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <system_error>
#include <vector>

#include "packd/backend/cpu/parallel.hpp"
#include "packd/core/generator.hpp"
#include "packd/data/dataset.hpp"
#include "packd/data/image.hpp"

namespace packd::data {

inline constexpr int kSyntheticMinDiff = 32;  // min per-pixel change (max over channels) of a defect

struct SyntheticOptions {
  uint64_t seed = 0;
  std::vector<std::string> categories;  // empty: all of synthetic_categories()
  int64_t image_size = 128;             // square images, 16 to 2048
  int64_t n_train = 20;                 // per category: train/good
  int64_t n_test_good = 8;              // test/good
  int64_t n_test_bad = 12;              // spread round-robin over the category's defect types
};

// One rendered image; all three are size x size.
struct SyntheticImage {
  Image image;   // RGB
  Image normal;  // RGB: the same draw without the defect (== image for "good")
  Image mask;    // 'L', 0 / 255 (all 0 for "good")
};

namespace detail {

using Rgb = std::array<float, 3>;

enum class SynthKind { checker, dots, grain, grid, stripes, capsule, disc, hexnut, ring, tile };

struct SynthStyle {
  const char* name;
  SynthKind kind;
  bool object;
  Rgb a, b;  // textures: the two pattern colours; objects: background, part
  Rgb c;     // objects: a second part colour (capsule's other half) or detail colour
};

// Sorted by name. Objects keep a large part-background contrast (the "missing" defect needs it).
inline const std::array<SynthStyle, 10>& synth_styles() {
  static const std::array<SynthStyle, 10> styles{{
      {"capsule", SynthKind::capsule, true, {38, 44, 56}, {205, 172, 62}, {196, 78, 66}},
      {"checker", SynthKind::checker, false, {172, 142, 102}, {118, 94, 70}, {}},
      {"disc", SynthKind::disc, true, {204, 202, 194}, {72, 92, 142}, {48, 62, 100}},
      {"dots", SynthKind::dots, false, {88, 118, 90}, {162, 192, 150}, {}},
      {"grain", SynthKind::grain, false, {166, 114, 72}, {118, 78, 48}, {}},
      {"grid", SynthKind::grid, false, {136, 136, 140}, {78, 80, 92}, {}},
      {"hexnut", SynthKind::hexnut, true, {58, 60, 66}, {176, 176, 186}, {150, 150, 162}},
      {"ring", SynthKind::ring, true, {34, 62, 52}, {206, 184, 140}, {170, 150, 110}},
      {"stripes", SynthKind::stripes, false, {68, 108, 160}, {124, 164, 204}, {}},
      {"tile", SynthKind::tile, true, {226, 220, 208}, {188, 108, 78}, {150, 84, 60}},
  }};
  return styles;
}

inline const SynthStyle& synth_style(const std::string& name) {
  for (const SynthStyle& s : synth_styles())
    if (name == s.name) return s;
  std::string all;
  for (const SynthStyle& s : synth_styles()) all += (all.empty() ? "" : ", ") + std::string(s.name);
  PACKD_CHECK(false, "synthetic: unknown category '", name, "' (available: ", all, ")");
  return synth_styles()[0];  // unreachable
}

inline float smoothstep(float e0, float e1, float x) {
  const float t = std::clamp((x - e0) / (e1 - e0), 0.0f, 1.0f);
  return t * t * (3.0f - 2.0f * t);
}

inline Rgb mix(const Rgb& p, const Rgb& q, float t) {
  return {p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t, p[2] + (q[2] - p[2]) * t};
}

inline Rgb scale(const Rgb& p, float s) { return {p[0] * s, p[1] * s, p[2] * s}; }

inline float uniform(Generator& g, float lo, float hi) { return lo + (hi - lo) * float(g.uniform()); }

// Brightness +-amount and a third of that per channel (a slight tint).
inline Rgb jitter(Generator& g, const Rgb& c, float amount) {
  const float common = uniform(g, -amount, amount), tint = amount / 3;
  return {c[0] + common + uniform(g, -tint, tint), c[1] + common + uniform(g, -tint, tint),
          c[2] + common + uniform(g, -tint, tint)};
}

// Smooth value noise on a (gh, gw) lattice of random values, sampled at lattice coordinates.
struct ValueNoise {
  int64_t gh = 0, gw = 0;
  std::vector<float> v;
  ValueNoise(Generator& g, int64_t h, int64_t w) : gh(h + 2), gw(w + 2), v(std::size_t(gh * gw)) {
    for (float& x : v) x = float(g.uniform());
  }
  float at(float y, float x) const {
    y = std::clamp(y, 0.0f, float(gh - 2)), x = std::clamp(x, 0.0f, float(gw - 2));
    const int64_t y0 = int64_t(y), x0 = int64_t(x);
    const float fy = smoothstep(0, 1, y - float(y0)), fx = smoothstep(0, 1, x - float(x0));
    auto l = [&](int64_t yy, int64_t xx) { return v[std::size_t(yy * gw + xx)]; };
    const float top = l(y0, x0) + (l(y0, x0 + 1) - l(y0, x0)) * fx;
    const float bot = l(y0 + 1, x0) + (l(y0 + 1, x0 + 1) - l(y0 + 1, x0)) * fx;
    return top + (bot - top) * fy;
  }
};

// The normal draw: colours (float RGB, (S, S, 3)) and, for objects, the background alone and the
// part's coverage in [0, 1] (S, S).
struct SynthLayers {
  std::vector<float> rgb, background, coverage;
  // Object placement, for putting defects on the part (image units).
  float cx = 0.5f, cy = 0.5f, extent = 0.3f;
};

inline float rounded_box_sdf(float px, float py, float half, float radius) {
  const float qx = std::fabs(px) - half + radius, qy = std::fabs(py) - half + radius;
  const float ox = std::max(qx, 0.0f), oy = std::max(qy, 0.0f);
  return std::sqrt(ox * ox + oy * oy) + std::min(std::max(qx, qy), 0.0f) - radius;
}

inline SynthLayers render_normal(const SynthStyle& st, int64_t S, Generator& g) {
  SynthLayers L;
  const std::size_t n = std::size_t(S * S);
  L.rgb.resize(n * 3);
  const float px = 1.0f / float(S);  // one pixel in image units
  const float pi = std::numbers::pi_v<float>;
  auto put = [&](std::vector<float>& dst, int64_t i, const Rgb& c) {
    for (int k = 0; k < 3; ++k) dst[std::size_t(i * 3 + k)] = c[std::size_t(k)];
  };
  if (!st.object) {
    const Rgb a = jitter(g, st.a, 10), b = jitter(g, st.b, 10);
    const float angle = float(g.normal()) * 0.04f, ca = std::cos(angle), sa = std::sin(angle);
    const float ox = float(g.uniform()), oy = float(g.uniform());
    switch (st.kind) {
      case SynthKind::stripes: {
        const float period = 0.09f * uniform(g, 0.92f, 1.08f), theta = 0.52f + float(g.normal()) * 0.05f;
        const float ct = std::cos(theta), stt = std::sin(theta), phase = uniform(g, 0, 2 * pi);
        for (int64_t i = 0; i < S * S; ++i) {
          const float u = (float(i % S) + 0.5f) * px, v = (float(i / S) + 0.5f) * px;
          const float s = std::sin(2 * pi * (u * ct + v * stt) / period + phase);
          put(L.rgb, i, mix(a, b, smoothstep(-0.35f, 0.35f, s)));
        }
        break;
      }
      case SynthKind::checker: {
        const float period = 0.125f * uniform(g, 0.95f, 1.05f);
        for (int64_t i = 0; i < S * S; ++i) {
          const float u = (float(i % S) + 0.5f) * px - 0.5f, v = (float(i / S) + 0.5f) * px - 0.5f;
          const float p = u * ca - v * sa + ox, q = u * sa + v * ca + oy;
          const float s = std::sin(pi * p / period) * std::sin(pi * q / period);
          put(L.rgb, i, mix(a, b, smoothstep(-0.12f, 0.12f, s)));
        }
        break;
      }
      case SynthKind::grid: {
        const float period = 0.1f * uniform(g, 0.95f, 1.05f), half = 0.012f * uniform(g, 0.9f, 1.1f);
        for (int64_t i = 0; i < S * S; ++i) {
          const float u = (float(i % S) + 0.5f) * px - 0.5f, v = (float(i / S) + 0.5f) * px - 0.5f;
          const float p = (u * ca - v * sa + ox) / period, q = (u * sa + v * ca + oy) / period;
          const float d = std::min(std::fabs(p - std::round(p)), std::fabs(q - std::round(q))) * period;
          put(L.rgb, i, mix(a, b, std::clamp((half - d) / px + 0.5f, 0.0f, 1.0f)));
        }
        break;
      }
      case SynthKind::dots: {
        const float period = 0.11f * uniform(g, 0.95f, 1.05f), radius = 0.03f * uniform(g, 0.9f, 1.1f);
        for (int64_t i = 0; i < S * S; ++i) {
          const float u = (float(i % S) + 0.5f) * px - 0.5f, v = (float(i / S) + 0.5f) * px - 0.5f;
          const float p = (u * ca - v * sa + ox) / period, q = (u * sa + v * ca + oy) / period;
          const float dp = (p - std::round(p)) * period, dq = (q - std::round(q)) * period;
          const float d = std::sqrt(dp * dp + dq * dq);
          put(L.rgb, i, mix(a, b, std::clamp((radius - d) / px + 0.5f, 0.0f, 1.0f)));
        }
        break;
      }
      case SynthKind::grain: {  // wood-like: noise stretched along x, fine streaks
        const ValueNoise coarse(g, 28, 4), fine(g, 56, 8);
        const float streak = uniform(g, 34, 42), phase = uniform(g, 0, 2 * pi);
        for (int64_t i = 0; i < S * S; ++i) {
          const float u = (float(i % S) + 0.5f) * px, v = (float(i / S) + 0.5f) * px;
          const float w = 0.65f * coarse.at(v * 28, u * 4) + 0.35f * fine.at(v * 56, u * 8);
          const float s = 0.5f + 0.5f * std::sin(2 * pi * streak * v + 6.0f * w + phase);
          put(L.rgb, i, mix(a, b, std::clamp(0.75f * w + 0.25f * s, 0.0f, 1.0f)));
        }
        break;
      }
      default: PACKD_ASSERT(false, "synthetic: texture kind");
    }
    return L;
  }
  // Objects: background with a gentle gradient, then the part.
  L.background.resize(n * 3);
  L.coverage.resize(n);
  const Rgb bg = jitter(g, st.a, 8), part = jitter(g, st.b, 10), detail_c = jitter(g, st.c, 10);
  const float gdir = uniform(g, 0, 2 * pi), gamp = uniform(g, 4, 10);
  L.cx = 0.5f + std::clamp(float(g.normal()) * 0.025f, -0.06f, 0.06f);
  L.cy = 0.5f + std::clamp(float(g.normal()) * 0.025f, -0.06f, 0.06f);
  const float size_j = uniform(g, 0.96f, 1.04f);
  const float angle = st.kind == SynthKind::hexnut ? uniform(g, 0, pi / 3) : float(g.normal()) * 0.07f;
  const float ca = std::cos(angle), sa = std::sin(angle);
  const float light = uniform(g, 0, 2 * pi);
  L.extent = 0.3f * size_j;
  for (int64_t i = 0; i < S * S; ++i) {
    const float u = (float(i % S) + 0.5f) * px, v = (float(i / S) + 0.5f) * px;
    const float grad = gamp * ((u - 0.5f) * std::cos(gdir) + (v - 0.5f) * std::sin(gdir));
    const Rgb back{bg[0] + grad, bg[1] + grad, bg[2] + grad};
    put(L.background, i, back);
    const float x = u - L.cx, y = v - L.cy;
    const float p = x * ca + y * sa, q = -x * sa + y * ca;  // part coordinates
    const float r = std::sqrt(x * x + y * y);
    float sdf = 1.0f;
    Rgb col = part;
    switch (st.kind) {
      case SynthKind::disc: {
        const float R = 0.32f * size_j;
        sdf = r - R;
        col = scale(part, 1.0f - 0.18f * (r / R) * (r / R));
        if (std::fabs(r - 0.68f * R) < 0.012f) col = detail_c;  // a groove
        break;
      }
      case SynthKind::ring: {
        const float R = 0.29f * size_j, w = 0.075f * size_j;
        sdf = std::fabs(r - R) - w;
        const float phi = std::atan2(y, x);
        col = mix(part, detail_c, 0.5f - 0.5f * std::cos(phi - light));
        break;
      }
      case SynthKind::tile: {
        const float half = 0.3f * size_j;
        sdf = rounded_box_sdf(p, q, half, 0.06f);
        col = sdf > -0.06f && sdf < -0.045f ? detail_c : part;  // an inset border
        break;
      }
      case SynthKind::capsule: {
        const float len = 0.2f * size_j, rad = 0.12f * size_j;
        const float h = std::clamp((p + len) / (2 * len), 0.0f, 1.0f);
        const float dx = p - (-len + 2 * len * h);
        sdf = std::sqrt(dx * dx + q * q) - rad;
        col = p < 0 ? part : detail_c;
        col = scale(col, 1.0f - 0.2f * std::clamp(q / rad, -1.0f, 1.0f) * std::clamp(q / rad, -1.0f, 1.0f));
        break;
      }
      case SynthKind::hexnut: {
        const float apothem = 0.28f * size_j, hole = 0.12f * size_j;
        float hex = -1e9f;
        int face = 0;
        for (int k = 0; k < 3; ++k) {
          const float t = float(k) * pi / 3;
          const float d = std::fabs(p * std::cos(t) + q * std::sin(t));
          if (d > hex) hex = d, face = k;
        }
        sdf = std::max(hex - apothem, hole - r);
        col = scale(part, 1.0f + 0.06f * float(face - 1));
        if (r < hole + 0.025f) col = detail_c;  // the thread's chamfer
        break;
      }
      default: PACKD_ASSERT(false, "synthetic: object kind");
    }
    const float cov = std::clamp(0.5f - sdf / px, 0.0f, 1.0f);
    L.coverage[std::size_t(i)] = cov;
    put(L.rgb, i, mix(back, col, cov));
  }
  return L;
}

inline uint8_t to_u8(float v) { return uint8_t(std::clamp(std::nearbyint(v), 0.0f, 255.0f)); }

inline int cheb(const uint8_t* p, const Rgb& c) {
  int d = 0;
  for (int k = 0; k < 3; ++k) d = std::max(d, std::abs(int(p[k]) - int(to_u8(c[std::size_t(k)]))));
  return d;
}

// An irregular blob: radius r0 modulated by two random harmonics of the angle.
struct Blob {
  float cx, cy, r0, a2, p2, a3, p3;
  bool contains(float u, float v) const {
    const float dx = u - cx, dy = v - cy;
    const float phi = std::atan2(dy, dx);
    const float r = r0 * (1.0f + a2 * std::sin(2 * phi + p2) + a3 * std::sin(3 * phi + p3));
    return dx * dx + dy * dy < r * r;
  }
};

inline Blob random_blob(Generator& g, float cx, float cy, float rmin, float rmax) {
  const float pi = std::numbers::pi_v<float>;
  return {cx, cy, uniform(g, rmin, rmax), uniform(g, 0.05f, 0.25f), uniform(g, 0, 2 * pi), uniform(g, 0.0f, 0.15f),
          uniform(g, 0, 2 * pi)};
}

// A thick curve (quadratic Bezier, as 12 segments) of half-width w.
struct Scratch {
  std::array<float, 26> pts{};  // 13 points (x, y)
  float w = 0;
  bool contains(float u, float v) const {
    for (int s = 0; s < 12; ++s) {
      const float ax = pts[std::size_t(2 * s)], ay = pts[std::size_t(2 * s + 1)];
      const float bx = pts[std::size_t(2 * s + 2)], by = pts[std::size_t(2 * s + 3)];
      const float ex = bx - ax, ey = by - ay, len2 = ex * ex + ey * ey;
      const float h = len2 > 0 ? std::clamp(((u - ax) * ex + (v - ay) * ey) / len2, 0.0f, 1.0f) : 0.0f;
      const float dx = u - ax - ex * h, dy = v - ay - ey * h;
      if (dx * dx + dy * dy < w * w) return true;
    }
    return false;
  }
};

inline Scratch random_scratch(Generator& g, float cx, float cy, float len_min, float len_max, float px) {
  const float pi = std::numbers::pi_v<float>;
  const float len = uniform(g, len_min, len_max), theta = uniform(g, 0, pi), bend = uniform(g, -0.25f, 0.25f) * len;
  const float dx = std::cos(theta) * len / 2, dy = std::sin(theta) * len / 2;
  const float x0 = cx - dx, y0 = cy - dy, x2 = cx + dx, y2 = cy + dy;
  const float x1 = cx - std::sin(theta) * bend, y1 = cy + std::cos(theta) * bend;
  Scratch s;
  for (int k = 0; k <= 12; ++k) {
    const float t = float(k) / 12, a = (1 - t) * (1 - t), b = 2 * (1 - t) * t, c = t * t;
    s.pts[std::size_t(2 * k)] = a * x0 + b * x1 + c * x2;
    s.pts[std::size_t(2 * k + 1)] = a * y0 + b * y1 + c * y2;
  }
  s.w = std::max(0.8f * px, uniform(g, 0.006f, 0.011f));
  return s;
}

// The RGB-cube corner farthest from a pixel: at least 128 away in every channel.
inline Rgb farthest_corner(const uint8_t* p) {
  return {p[0] < 128 ? 255.0f : 0.0f, p[1] < 128 ? 255.0f : 0.0f, p[2] < 128 ? 255.0f : 0.0f};
}

// The vivid stain colour farthest (in the worst channel sense) from the style's colours.
inline Rgb stain_colour(const SynthStyle& st) {
  static const std::array<Rgb, 6> vivid{{{225, 40, 40}, {40, 200, 60}, {50, 80, 235}, {235, 205, 30}, {205, 60, 205}, {40, 210, 215}}};
  Rgb best = vivid[0];
  float best_d = -1;
  for (const Rgb& c : vivid) {
    float d = 1e9f;
    for (const Rgb* ref : {&st.a, &st.b, &st.c}) {
      if (st.object == false && ref == &st.c) continue;
      float m = 0;
      for (int k = 0; k < 3; ++k) m = std::max(m, std::fabs(c[std::size_t(k)] - (*ref)[std::size_t(k)]));
      d = std::min(d, m);
    }
    if (d > best_d) best_d = d, best = c;
  }
  return best;
}

inline uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char ch : s) h = (h ^ uint64_t(uint8_t(ch))) * 0x100000001b3ULL;
  return h;
}

// The per-image seed of make_synthetic_dataset: split 0 = train/good, 1 = test/good, 2 = test/<defect>.
inline uint64_t synthetic_image_seed(uint64_t seed, const std::string& category, int split, int64_t index) {
  return fnv1a(category) ^ (seed * 0x9E3779B97F4A7C15ULL) ^ (uint64_t(split + 1) * 0xBF58476D1CE4E5B9ULL) ^
         (uint64_t(index) * 0x94D049BB133111EBULL);
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  PACKD_CHECK(f.good(), "synthetic: cannot create ", path);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  f.close();
  PACKD_CHECK(!f.fail(), "synthetic: write failed: ", path);
}

}  // namespace detail

// The category names, sorted.
inline std::vector<std::string> synthetic_categories() {
  std::vector<std::string> names;
  for (const auto& s : detail::synth_styles()) names.emplace_back(s.name);
  return names;
}

// A category's defect folders, sorted: color, hole, scratch (+ missing for objects).
inline std::vector<std::string> synthetic_defects(const std::string& category) {
  if (detail::synth_style(category).object) return {"color", "hole", "missing", "scratch"};
  return {"color", "hole", "scratch"};
}

// One image of `category` at size x size from a per-image seed; defect is "good" or one of
// synthetic_defects(category). The normal draw does not depend on the defect, so the same seed
// with different defects shares `normal`.
inline SyntheticImage render_synthetic(const std::string& category, int64_t size, uint64_t seed,
                                       const std::string& defect = "good") {
  using detail::Rgb;
  const detail::SynthStyle& st = detail::synth_style(category);
  PACKD_CHECK(size >= 16 && size <= 2048, "synthetic: image size must be 16 to 2048, got ", size);
  const std::vector<std::string> defects = synthetic_defects(category);
  PACKD_CHECK(defect == "good" || std::find(defects.begin(), defects.end(), defect) != defects.end(), "synthetic: '",
              defect, "' is not a defect of ", category, " (", detail::join_names(defects), ")");
  const int64_t S = size;
  const std::size_t n = std::size_t(S * S);
  Generator g(seed);
  const detail::SynthLayers L = detail::render_normal(st, S, g);
  SyntheticImage out;
  out.normal = Image{S, S, 3, std::vector<uint8_t>(n * 3)};
  out.mask = Image{S, S, 1, std::vector<uint8_t>(n, 0)};
  std::vector<uint8_t> bg;  // the background alone, with the same noise (objects: "missing")
  if (st.object) bg.resize(n * 3);
  for (std::size_t i = 0; i < n; ++i) {  // luma noise, +-3 levels
    const float noise = detail::uniform(g, -3.0f, 3.0f);
    for (std::size_t k = 0; k < 3; ++k) {
      out.normal.pixels[i * 3 + k] = detail::to_u8(L.rgb[i * 3 + k] + noise);
      if (st.object) bg[i * 3 + k] = detail::to_u8(L.background[i * 3 + k] + noise);
    }
  }
  out.image = out.normal;
  if (defect == "good") return out;

  const float px = 1.0f / float(S);
  // Where a defect may go: anywhere central on a texture; on an object, a point well inside the
  // part (its coverage ~1), or on its edge for "missing" (a chipped part).
  auto coverage_at = [&](float u, float v) {
    const int64_t x = std::clamp(int64_t(u * float(S)), int64_t(0), S - 1), y = std::clamp(int64_t(v * float(S)), int64_t(0), S - 1);
    return L.coverage[std::size_t(y * S + x)];
  };
  auto pick_point = [&](bool edge, float& u, float& v) {
    if (!st.object) {
      u = detail::uniform(g, 0.15f, 0.85f), v = detail::uniform(g, 0.15f, 0.85f);
      return;
    }
    for (int t = 0; t < 512; ++t) {
      u = L.cx + detail::uniform(g, -1.3f, 1.3f) * L.extent, v = L.cy + detail::uniform(g, -1.3f, 1.3f) * L.extent;
      const float c = coverage_at(u, v);
      if (edge ? (c > 0.2f && c < 0.8f) : c >= 0.99f) return;
    }
    // Unlucky draws: the first solid pixel from a random start.
    const int64_t start = int64_t(g.below(uint64_t(S * S)));
    for (int64_t k = 0; k < S * S; ++k) {
      const int64_t i = (start + k) % (S * S);
      const float c = L.coverage[std::size_t(i)];
      if (edge ? (c > 0.2f && c < 0.8f) : c >= 0.99f) {
        u = (float(i % S) + 0.5f) * px, v = (float(i / S) + 0.5f) * px;
        return;
      }
    }
    u = L.cx, v = L.cy;
  };
  const Rgb stain = detail::stain_colour(st);
  const Rgb hole{14, 14, 16};
  const Rgb scratch_c = (st.b[0] + st.b[1] + st.b[2] > 3 * 130) ? Rgb{28, 26, 24} : Rgb{246, 244, 236};
  const int64_t min_pixels = std::max<int64_t>(6, S * S / 500);
  for (int attempt = 0;; ++attempt) {
    float u = 0.5f, v = 0.5f;
    detail::Blob blob{};
    detail::Scratch scratch{};
    if (defect == "scratch") {
      pick_point(false, u, v);
      scratch = detail::random_scratch(g, u, v, st.object ? 0.12f : 0.2f, st.object ? 0.3f : 0.45f, px);
    } else if (defect == "hole") {
      pick_point(false, u, v);
      blob = detail::random_blob(g, u, v, 0.03f, 0.06f);
    } else if (defect == "color") {
      pick_point(false, u, v);
      blob = detail::random_blob(g, u, v, 0.045f, 0.09f);
    } else {  // missing
      pick_point(true, u, v);
      blob = detail::random_blob(g, u, v, 0.06f, 0.1f);
    }
    out.image = out.normal;
    std::fill(out.mask.pixels.begin(), out.mask.pixels.end(), uint8_t(0));
    int64_t written = 0;
    for (int64_t i = 0; i < S * S; ++i) {
      const float pu = (float(i % S) + 0.5f) * px, pv = (float(i / S) + 0.5f) * px;
      const std::size_t idx = std::size_t(i);
      if (st.object && L.coverage[idx] < 0.5f) continue;  // defects belong to the part
      if (!(defect == "scratch" ? scratch.contains(pu, pv) : blob.contains(pu, pv))) continue;
      uint8_t* p = &out.image.pixels[idx * 3];
      const uint8_t* p0 = &out.normal.pixels[idx * 3];
      std::array<uint8_t, 3> now{};
      if (defect == "missing") {
        const uint8_t* b = &bg[idx * 3];
        int d = 0;
        for (int k = 0; k < 3; ++k) d = std::max(d, std::abs(int(b[k]) - int(p0[k])));
        if (d < kSyntheticMinDiff) continue;  // no visible change: neither drawn nor masked
        now = {b[0], b[1], b[2]};
      } else {
        auto blend = [&](const Rgb& c) {
          const float a = defect == "color" ? 0.8f : 1.0f;
          return Rgb{float(p0[0]) + a * (c[0] - float(p0[0])), float(p0[1]) + a * (c[1] - float(p0[1])),
                     float(p0[2]) + a * (c[2] - float(p0[2]))};
        };
        const Rgb want = defect == "scratch" ? scratch_c : defect == "hole" ? hole : stain;
        Rgb c = blend(want);
        if (detail::cheb(p0, c) < kSyntheticMinDiff) c = blend(detail::farthest_corner(p0));
        now = {detail::to_u8(c[0]), detail::to_u8(c[1]), detail::to_u8(c[2])};
      }
      p[0] = now[0], p[1] = now[1], p[2] = now[2];
      out.mask.pixels[idx] = 255;
      written++;
    }
    if (written >= min_pixels || attempt >= 32) {
      PACKD_ASSERT(written > 0, "synthetic: no defect pixels for ", category, "/", defect);
      return out;
    }
  }
}

// Writes the synthetic data set to dir in MVTec AD's layout (readable by mvtec()):
//   <dir>/<category>/train/good/000.png ...         n_train normal images
//   <dir>/<category>/test/good/000.png ...          n_test_good normal images
//   <dir>/<category>/test/<defect>/000.png ...      n_test_bad, round-robin over the defects
//   <dir>/<category>/ground_truth/<defect>/000_mask.png   0 / 255
//   <dir>/packd_synthetic.txt                        the options (marks the folder as generated)
// A category folder that already exists is replaced if dir holds packd_synthetic.txt (a
// previous run), else refused. Files are written plainly (not fsynced): rerun after a crash.
// Returns the categories written. Images are drawn in parallel on the worker pool; each has its
// own seed (category, split, index), so the output does not depend on the thread count.
inline std::vector<std::string> make_synthetic_dataset(const std::string& dir, const SyntheticOptions& opt = {}) {
  namespace fs = std::filesystem;
  const std::vector<std::string> cats = opt.categories.empty() ? synthetic_categories() : opt.categories;
  PACKD_CHECK(opt.image_size >= 16 && opt.image_size <= 2048, "synthetic: image_size must be 16 to 2048, got ",
              opt.image_size);
  PACKD_CHECK(opt.n_train >= 1 && opt.n_test_good >= 0 && opt.n_test_bad >= 0, "synthetic: n_train (", opt.n_train,
              ") must be >= 1, n_test_good (", opt.n_test_good, ") and n_test_bad (", opt.n_test_bad, ") >= 0");
  PACKD_CHECK(opt.n_train <= 100000 && opt.n_test_good <= 100000 && opt.n_test_bad <= 100000,
              "synthetic: at most 100000 images per split");
  for (std::size_t i = 0; i < cats.size(); ++i) {
    detail::synth_style(cats[i]);  // throws for an unknown name
    for (std::size_t j = 0; j < i; ++j) PACKD_CHECK(cats[i] != cats[j], "synthetic: category ", cats[i], " given twice");
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  PACKD_CHECK(detail::is_dir(dir), "synthetic: cannot create ", dir, ec ? " (" + ec.message() + ")" : "");
  const std::string marker = detail::join_path(dir, "packd_synthetic.txt");
  const bool ours = detail::is_file(marker);
  for (const std::string& c : cats) {
    const std::string cat_dir = detail::join_path(dir, c);
    if (!fs::exists(cat_dir, ec)) continue;
    PACKD_CHECK(ours, "synthetic: ", cat_dir, " already exists and ", dir,
                " was not made by make_synthetic_dataset (no packd_synthetic.txt); not overwriting it");
    fs::remove_all(cat_dir, ec);
    PACKD_CHECK(!ec, "synthetic: cannot remove the previous ", cat_dir, " (", ec.message(), ")");
  }
  {
    std::string text = "packd synthetic anomaly data set (make_synthetic_dataset), MVTec AD layout\nseed " +
                       std::to_string(opt.seed) + "\nimage_size " + std::to_string(opt.image_size) + "\nn_train " +
                       std::to_string(opt.n_train) + "\nn_test_good " + std::to_string(opt.n_test_good) +
                       "\nn_test_bad " + std::to_string(opt.n_test_bad) + "\ncategories";
    for (const auto& c : cats) text += " " + c;
    text += "\n";
    detail::write_bytes(marker, std::vector<uint8_t>(text.begin(), text.end()));
  }

  struct Job {
    std::string category, defect, image, mask;
    uint64_t seed;
  };
  std::vector<Job> jobs;
  auto name = [](int64_t i, int64_t count) {
    std::string s = std::to_string(i);
    const std::size_t width = std::max<std::size_t>(3, std::to_string(std::max<int64_t>(count - 1, 0)).size());
    return std::string(width > s.size() ? width - s.size() : 0, '0') + s;
  };
  auto mkdir = [&](const std::string& p) {
    fs::create_directories(p, ec);
    PACKD_CHECK(detail::is_dir(p), "synthetic: cannot create ", p, ec ? " (" + ec.message() + ")" : "");
  };
  for (const std::string& c : cats) {
    const std::string root = detail::join_path(dir, c);
    mkdir(detail::join_path(root, "train/good"));
    for (int64_t i = 0; i < opt.n_train; ++i)
      jobs.push_back({c, "good", detail::join_path(root, "train/good/" + name(i, opt.n_train) + ".png"), "",
                      detail::synthetic_image_seed(opt.seed, c, 0, i)});
    mkdir(detail::join_path(root, "test/good"));
    for (int64_t i = 0; i < opt.n_test_good; ++i)
      jobs.push_back({c, "good", detail::join_path(root, "test/good/" + name(i, opt.n_test_good) + ".png"), "",
                      detail::synthetic_image_seed(opt.seed, c, 1, i)});
    const std::vector<std::string> defects = synthetic_defects(c);
    const int64_t T = int64_t(defects.size());
    for (int64_t i = 0; i < opt.n_test_bad; ++i) {
      const std::string& d = defects[std::size_t(i % T)];
      const int64_t in_folder = (opt.n_test_bad - 1 - i % T) / T + 1;  // images of this defect
      const std::string stem = name(i / T, in_folder);
      if (i < T) mkdir(detail::join_path(root, "test/" + d)), mkdir(detail::join_path(root, "ground_truth/" + d));
      jobs.push_back({c, d, detail::join_path(root, "test/" + d + "/" + stem + ".png"),
                      detail::join_path(root, "ground_truth/" + d + "/" + stem + "_mask.png"),
                      detail::synthetic_image_seed(opt.seed, c, 2, i)});
    }
  }
  cpu::pool_for(int64_t(jobs.size()), cpu::max_threads(), [&](int64_t j) {
    const Job& job = jobs[std::size_t(j)];
    const SyntheticImage im = render_synthetic(job.category, opt.image_size, job.seed, job.defect);
    detail::write_bytes(job.image, encode_png(im.image));
    if (!job.mask.empty()) detail::write_bytes(job.mask, encode_png(im.mask));
  });
  return cats;
}

}  // namespace packd::data
