#pragma once
// Reports of the few-shot evaluation (eval/protocol.hpp), written into one folder, each file
// atomically (Note [Atomic writes]):
//
//   report.json   everything: the checkpoint, teacher, protocol options, and per category, k and run
//                 the metrics, the support files (relative to the data set root), the seed and the
//                 time; mean and std (np.std) per k
//   report.csv    one row per category, k and run, then a "mean" and a "std" row per category and k
//   report.md     the paper's Table 1 layout: rows categories, columns k, "image AUROC / pixel
//                 AUROC" as mean ± std in percent; a second table with AUPRO and F1-max
//   report.html   the same tables and the overlays, embedded as base64 PNG data URIs (linked
//                 relatively once the embedded bytes pass a limit), so the file works on its own
//   overlays/<category>/k<k>/run0/<defect>_<name>.png
//                 image | ground truth | anomaly map over the image, for run 0 of each k only, at
//                 most max_overlays per category and k, spread over the defect types
//
// AUPRO labels: "aupro" is the STANDARD global AUPRO (MVTec AD's definition, FPR limit 0.3);
// "aupro_rd4ad" is RD4AD's per-image variant (foundations.md 1.9); the two are not comparable.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "packd/data/image.hpp"
#include "packd/eval/protocol.hpp"
#include "packd/io/atomic_file.hpp"
#include "packd/train/load.hpp"

namespace packd::eval {

struct EvalReport {
  std::string checkpoint;               // the checkpoint file evaluated
  int64_t trained_steps = 0;
  nlohmann::json run_config = nlohmann::json::object();  // the checkpoint's config (TrainOptions::to_json)
  std::string teacher;                  // where the teacher's weights came from, in words
  std::vector<std::string> warnings;    // from loading (random teacher, ...)
  std::string dataset, data_root;       // what was evaluated (another data set than the training one is fine)
  ProtocolOptions options;
  std::string aug;                      // the support augmentation used
  std::vector<CategoryResult> categories;
};

// The report's header for a loaded run evaluated on `dataset` at `data_root` with `opt`.
inline EvalReport report_for(const train::LoadedRun& run, const std::string& dataset, const std::string& data_root,
                             const ProtocolOptions& opt) {
  EvalReport rep;
  rep.checkpoint = run.checkpoint;
  rep.trained_steps = run.step;
  rep.run_config = run.options.to_json();
  rep.teacher = run.teacher;
  rep.warnings = run.warnings;
  rep.dataset = dataset;
  rep.data_root = data_root;
  rep.options = opt;
  rep.aug = opt.aug.empty() ? run.options.method.aug : opt.aug;
  return rep;
}

namespace detail {

inline std::vector<uint8_t> text_bytes(const std::string& s) { return {s.begin(), s.end()}; }

// A file-name component: characters other than [A-Za-z0-9._-] become '_'.
inline std::string safe_name(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      c = '_';
  return out.empty() || out == "." || out == ".." ? "_" : out;
}

inline std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

inline std::string base64(const std::vector<uint8_t>& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const uint32_t n = uint32_t(in[i]) << 16 | (i + 1 < in.size() ? uint32_t(in[i + 1]) << 8 : 0u) |
                       (i + 2 < in.size() ? uint32_t(in[i + 2]) : 0u);
    out += t[n >> 18 & 63];
    out += t[n >> 12 & 63];
    out += i + 1 < in.size() ? t[n >> 6 & 63] : '=';
    out += i + 2 < in.size() ? t[n & 63] : '=';
  }
  return out;
}

// "97.3" (a metric in percent), "-" for NaN.
inline std::string percent(double v, int decimals = 1) {
  if (!std::isfinite(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", decimals, 100.0 * v);
  return b;
}
inline std::string mean_std(double mean, double sd) {
  if (!std::isfinite(mean)) return "-";
  return percent(mean) + " ± " + percent(sd);
}

inline nlohmann::json metrics_json(const RunMetrics& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, field] : metric_fields()) j[name] = m.*field;  // NaN is written as null
  return j;
}

// Mean over categories of the per-category means of one metric for k (NaN if any is missing).
inline double average_over_categories(const EvalReport& r, int64_t k, double RunMetrics::*field) {
  double s = 0;
  int64_t n = 0;
  for (const auto& c : r.categories)
    for (const auto& sh : c.shots)
      if (sh.k == k) s += sh.mean.*field, ++n;
  return n > 0 ? s / double(n) : RunMetrics::nan;
}

inline const ShotResult* find_shot(const CategoryResult& c, int64_t k) {
  for (const auto& s : c.shots)
    if (s.k == k) return &s;
  return nullptr;
}

}  // namespace detail

// ---- report.json -----------------------------------------------------------------------------------

inline nlohmann::json report_json(const EvalReport& r) {
  using nlohmann::json;
  json cats = json::object();
  for (const auto& c : r.categories) {
    json shots = json::object();
    for (const auto& s : c.shots) {
      json runs = json::array();
      for (const auto& run : s.runs) {
        json j = detail::metrics_json(run.metrics);
        j["run"] = run.run;
        j["seed"] = run.seed;
        j["supports"] = run.supports;
        j["seconds"] = run.seconds;
        if (!run.notes.empty()) j["notes"] = run.notes;
        runs.push_back(j);
      }
      shots[std::to_string(s.k)] = {{"runs", runs}, {"mean", detail::metrics_json(s.mean)}, {"std", detail::metrics_json(s.stdev)}};
    }
    json overlays = json::array();
    for (const auto& o : c.overlays)
      overlays.push_back({{"k", o.k}, {"file", o.file}, {"image", o.image}, {"defect", o.defect}, {"label", o.label},
                          {"score", o.score}});
    cats[c.category] = {{"dataset", c.dataset},   {"root", c.root},         {"train_good", c.train_good},
                        {"test", c.test},         {"anomalous", c.anomalous}, {"pixel_metrics", c.pixel_metrics},
                        {"seconds", c.seconds},   {"shots", shots},         {"overlays", overlays}};
  }
  const ProtocolOptions& o = r.options;
  return {{"format", "packd.eval"},
          {"format_version", 1},
          {"checkpoint", r.checkpoint},
          {"trained_steps", r.trained_steps},
          {"run_config", r.run_config},
          {"teacher", r.teacher},
          {"warnings", r.warnings},
          {"dataset", r.dataset},
          {"data_root", r.data_root},
          {"protocol",
           {{"shots", o.shots},
            {"runs", o.runs},
            {"seed", o.seed},
            {"support_seed", "seed * 2^32 + k * 2^16 + run; k supports uniform without replacement (Fisher-Yates)"},
            {"image_size", o.image_size},
            {"aug", r.aug},
            {"map", o.combine == MapCombine::sum ? "sum" : "mul"},
            {"score", "max"},
            {"std", "np.std over runs (ddof 0)"},
            {"metrics",
             {{"image_auroc", "ROC AUC of the image scores (sklearn)"},
              {"pixel_auroc", "ROC AUC over every pixel of every test image (sklearn)"},
              {"aupro", "STANDARD global AUPRO, FPR limit 0.3, area / 0.3 (MVTec AD, anomalib)"},
              {"aupro_rd4ad", "RD4AD's per-image AUPRO variant (test.py compute_pro); not comparable to aupro"},
              {"f1_max", "image-level F1-max (anomalib F1Max)"}}}}},
          {"categories", cats}};
}

// ---- report.csv ------------------------------------------------------------------------------------

inline std::string report_csv(const EvalReport& r) {
  std::ostringstream os;
  os.precision(17);
  os << "dataset,category,k,run,seed";
  for (const auto& [name, field] : metric_fields()) os << "," << name;
  os << ",seconds,supports\n";
  auto metrics = [&](const RunMetrics& m) {
    for (const auto& [name, field] : metric_fields()) {
      os << ",";
      if (std::isfinite(m.*field)) os << m.*field;
    }
  };
  for (const auto& c : r.categories)
    for (const auto& s : c.shots) {
      const std::string head = detail::csv_field(c.dataset) + "," + detail::csv_field(c.category) + "," + std::to_string(s.k);
      for (const auto& run : s.runs) {
        std::string sup;
        for (const auto& f : run.supports) sup += (sup.empty() ? "" : ";") + f;
        os << head << "," << run.run << "," << run.seed;
        metrics(run.metrics);
        os << "," << run.seconds << "," << detail::csv_field(sup) << "\n";
      }
      os << head << ",mean,";
      metrics(s.mean);
      os << ",,\n" << head << ",std,";
      metrics(s.stdev);
      os << ",,\n";
    }
  return os.str();
}

// ---- report.md ---------------------------------------------------------------------------------------

inline std::string report_markdown(const EvalReport& r) {
  std::ostringstream os;
  const auto& ks = r.options.shots;
  os << "# packd few-shot evaluation\n\n";
  os << "- checkpoint: `" << r.checkpoint << "` (" << r.trained_steps << " training steps)\n";
  os << "- teacher: " << r.teacher << "\n";
  os << "- data: " << r.dataset << " at `" << r.data_root << "`\n";
  os << "- protocol: " << r.options.runs << " runs per k, supports drawn with seed " << r.options.seed
     << " (per run: see report.json), support views: " << r.aug << ", image size " << r.options.image_size
     << ", map: " << (r.options.combine == MapCombine::sum ? "sum" : "mul") << " of the stages, score: max\n";
  for (const auto& w : r.warnings) os << "- **WARNING**: " << w << "\n";
  auto table = [&](const char* title, double RunMetrics::*a, double RunMetrics::*b) {
    os << "\n## " << title << " (%, mean ± std over runs)\n\n| category |";
    for (int64_t k : ks) os << " k = " << k << " |";
    os << "\n|---|";
    for (std::size_t i = 0; i < ks.size(); ++i) os << "---|";
    os << "\n";
    for (const auto& c : r.categories) {
      os << "| " << c.category << " |";
      for (int64_t k : ks) {
        const ShotResult* s = detail::find_shot(c, k);
        if (!s) os << " |";
        else os << " " << detail::mean_std(s->mean.*a, s->stdev.*a) << " / " << detail::mean_std(s->mean.*b, s->stdev.*b) << " |";
      }
      os << "\n";
    }
    if (r.categories.size() > 1) {
      os << "| **mean** |";
      for (int64_t k : ks)
        os << " " << detail::percent(detail::average_over_categories(r, k, a)) << " / "
           << detail::percent(detail::average_over_categories(r, k, b)) << " |";
      os << "\n";
    }
  };
  table("image AUROC / pixel AUROC", &RunMetrics::image_auroc, &RunMetrics::pixel_auroc);
  table("AUPRO (standard, global, FPR 0.3) / image F1-max", &RunMetrics::aupro, &RunMetrics::f1_max);
  os << "\nAUPRO is the STANDARD global definition (MVTec AD, anomalib). RD4AD's per-image variant is in "
        "report.json and report.csv as `aupro_rd4ad`; the two are not comparable.\n";
  return os.str();
}

// ---- overlays ----------------------------------------------------------------------------------------

// image | ground truth | map over the image, side by side with 4-pixel white gaps. image RGB (S, S),
// mask (S, S) 0/1, map (S, S) coloured over [lo, hi].
inline data::Image overlay_panel(const data::Image& image, const Tensor<float>& mask, const Tensor<float>& map, float lo,
                                 float hi) {
  const int64_t H = image.height, W = image.width, gap = 4;
  PACKD_CHECK(image.channels == 3 && mask.numel() == H * W, "overlay_panel: image ", H, "x", W, "x", image.channels,
              " and mask of ", mask.numel(), " pixels do not match");
  const data::Image heat = data::overlay_heatmap(image, map, lo, hi, 0.5f);
  const std::vector<float> m = mask.contiguous().to_vector();
  data::Image out{H, 3 * W + 2 * gap, 3, std::vector<uint8_t>(std::size_t(H * (3 * W + 2 * gap) * 3), 255)};
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < 3; ++c) {
        out.at(y, x, c) = image.at(y, x, c);
        out.at(y, W + gap + x, c) = m[std::size_t(y * W + x)] > 0.5f ? 255 : 0;
        out.at(y, 2 * (W + gap) + x, c) = heat.at(y, x, c);
      }
  return out;
}

// Up to `max` test indices (all for max < 0), taken round-robin over the defect types (good
// included) in test order, so every type shows.
inline std::vector<int64_t> pick_overlays(const std::vector<data::Sample>& test, int64_t max) {
  std::map<std::string, std::vector<int64_t>> by_defect;
  for (std::size_t i = 0; i < test.size(); ++i) by_defect[test[i].defect].push_back(int64_t(i));
  const int64_t limit = max < 0 ? int64_t(test.size()) : std::min<int64_t>(max, int64_t(test.size()));
  std::vector<int64_t> out;
  for (std::size_t round = 0; int64_t(out.size()) < limit; ++round)
    for (auto& [d, v] : by_defect)
      if (round < v.size() && int64_t(out.size()) < limit) out.push_back(v[round]);
  std::sort(out.begin(), out.end());
  return out;
}

// A RunCallback that writes run 0's overlays under out_dir/overlays/ and records them in the
// category's result. max_per_k: per category and k (< 0: all, 0: none). The heat maps of one k
// share one colour range (the run's min to max), so images can be compared.
inline RunCallback overlay_writer(const std::string& out_dir, int64_t max_per_k) {
  return [out_dir, max_per_k](const RunMaps& rm, CategoryResult& res) {
    if (rm.run != 0 || max_per_k == 0) return;
    namespace fs = std::filesystem;
    const std::string rel_dir = "overlays/" + detail::safe_name(rm.data.category) + "/k" + std::to_string(rm.k) + "/run0";
    fs::create_directories(fs::path(out_dir) / rel_dir);
    const Tensor<float> maps = rm.maps.to<float>();  // (N, 1, S, S)
    const float lo = amin(maps).item(), hi = amax(maps).item();
    for (int64_t i : pick_overlays(rm.data.test, max_per_k)) {
      const data::Sample& s = rm.data.test[std::size_t(i)];
      const data::Image panel = overlay_panel(data::tensor_to_image(rm.images.narrow(0, i, 1)), rm.masks.narrow(0, i, 1),
                                              maps.narrow(0, i, 1), lo, std::max(hi, lo));
      const std::string file = rel_dir + "/" + detail::safe_name(s.defect) + "_" +
                               detail::safe_name(fs::path(s.image).stem().string()) + ".png";
      data::write_png((fs::path(out_dir) / file).string(), panel);
      res.overlays.push_back({rm.k, file, relative_to_root(s.image, rm.data.root), s.defect, s.label,
                              rm.scores[std::size_t(i)]});
    }
  };
}

// ---- report.html -------------------------------------------------------------------------------------

// The tables and overlays in one page. Overlay PNGs (read from out_dir) are embedded as data URIs
// until embed_limit bytes of them are embedded; the rest are linked relatively.
inline std::string report_html(const EvalReport& r, const std::string& out_dir, int64_t embed_limit = int64_t(64) << 20) {
  using detail::html_escape;
  std::ostringstream os;
  const auto& ks = r.options.shots;
  os << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>packd evaluation</title>\n<style>"
        "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #bbb;padding:4px 10px;text-align:center}th{background:#eee}"
        ".warn{color:#b00;font-weight:bold}figure{display:inline-block;margin:6px}"
        "figcaption{font-size:12px}img{max-width:100%}</style></head><body>\n";
  os << "<h1>packd few-shot evaluation</h1>\n<ul>";
  os << "<li>checkpoint: <code>" << html_escape(r.checkpoint) << "</code> (" << r.trained_steps << " training steps)</li>";
  os << "<li>teacher: " << html_escape(r.teacher) << "</li>";
  os << "<li>data: " << html_escape(r.dataset) << " at <code>" << html_escape(r.data_root) << "</code></li>";
  os << "<li>" << r.options.runs << " runs per k, support views " << html_escape(r.aug) << ", image size "
     << r.options.image_size << ", support seed " << r.options.seed << "</li></ul>\n";
  for (const auto& w : r.warnings) os << "<p class=\"warn\">WARNING: " << html_escape(w) << "</p>\n";
  auto table = [&](const char* title, double RunMetrics::*a, double RunMetrics::*b) {
    os << "<h2>" << title << " (%, mean &plusmn; std over runs)</h2>\n<table><tr><th>category</th>";
    for (int64_t k : ks) os << "<th>k = " << k << "</th>";
    os << "</tr>\n";
    for (const auto& c : r.categories) {
      os << "<tr><td><a href=\"#" << html_escape(detail::safe_name(c.category)) << "\">" << html_escape(c.category)
         << "</a></td>";
      for (int64_t k : ks) {
        const ShotResult* s = detail::find_shot(c, k);
        os << "<td>";
        if (s) os << html_escape(detail::mean_std(s->mean.*a, s->stdev.*a) + " / " + detail::mean_std(s->mean.*b, s->stdev.*b));
        os << "</td>";
      }
      os << "</tr>\n";
    }
    if (r.categories.size() > 1) {
      os << "<tr><th>mean</th>";
      for (int64_t k : ks)
        os << "<th>" << detail::percent(detail::average_over_categories(r, k, a)) << " / "
           << detail::percent(detail::average_over_categories(r, k, b)) << "</th>";
      os << "</tr>\n";
    }
    os << "</table>\n";
  };
  table("image AUROC / pixel AUROC", &RunMetrics::image_auroc, &RunMetrics::pixel_auroc);
  table("AUPRO (standard, global) / image F1-max", &RunMetrics::aupro, &RunMetrics::f1_max);
  os << "<p>AUPRO is the STANDARD global definition (MVTec AD, anomalib); RD4AD's per-image variant "
        "(<code>aupro_rd4ad</code>) is in report.json and report.csv.</p>\n";

  int64_t embedded = 0;
  for (const auto& c : r.categories) {
    os << "<h2 id=\"" << html_escape(detail::safe_name(c.category)) << "\">" << html_escape(c.category) << "</h2>\n<p>"
       << html_escape(c.dataset) << ": " << c.train_good << " train/good, " << c.test << " test images (" << c.anomalous
       << " anomalous)</p>\n";
    for (const auto& s : c.shots) {
      os << "<h3>k = " << s.k << "</h3>\n<table><tr><th>run</th><th>image AUROC</th><th>pixel AUROC</th>"
            "<th>AUPRO</th><th>AUPRO (RD4AD)</th><th>F1-max</th><th>supports</th></tr>\n";
      for (const auto& run : s.runs) {
        std::string sup;
        for (const auto& f : run.supports) sup += (sup.empty() ? "" : ", ") + f;
        os << "<tr><td>" << run.run << "</td>";
        for (const auto& [name, field] : metric_fields()) os << "<td>" << detail::percent(run.metrics.*field) << "</td>";
        os << "<td style=\"text-align:left\">" << html_escape(sup) << "</td></tr>\n";
      }
      os << "</table>\n";
      bool header = false;
      for (const auto& o : c.overlays) {
        if (o.k != s.k) continue;
        if (!header) os << "<p>Run 0: image | ground truth | anomaly map</p>\n", header = true;
        std::string src = o.file;
        const std::string path = (std::filesystem::path(out_dir) / o.file).string();
        std::error_code ec;
        const auto size = std::filesystem::file_size(path, ec);
        if (!ec && embedded + int64_t(size) <= embed_limit) {
          src = "data:image/png;base64," + detail::base64(data::detail::read_file_bytes(path, "report_html"));
          embedded += int64_t(size);
        }
        char score[32];
        std::snprintf(score, sizeof score, "%.4g", o.score);
        os << "<figure><img src=\"" << html_escape(src) << "\" alt=\"" << html_escape(o.image) << "\"><figcaption>"
           << html_escape(o.defect + " " + std::filesystem::path(o.image).filename().string()) << ", score " << score
           << "</figcaption></figure>\n";
      }
    }
  }
  os << "</body></html>\n";
  return os.str();
}

// Writes report.json, report.csv, report.md and report.html into out_dir (created if needed).
inline void write_reports(const std::string& out_dir, const EvalReport& r, int64_t embed_limit = int64_t(64) << 20) {
  namespace fs = std::filesystem;
  fs::create_directories(out_dir);
  const fs::path d(out_dir);
  io::write_file_atomic((d / "report.json").string(), detail::text_bytes(report_json(r).dump(2) + "\n"));
  io::write_file_atomic((d / "report.csv").string(), detail::text_bytes(report_csv(r)));
  io::write_file_atomic((d / "report.md").string(), detail::text_bytes(report_markdown(r)));
  io::write_file_atomic((d / "report.html").string(), detail::text_bytes(report_html(r, out_dir, embed_limit)));
}

}  // namespace packd::eval
