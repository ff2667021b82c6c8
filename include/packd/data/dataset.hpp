#pragma once
// Anomaly-detection data sets on disk: readers for MVTec AD, MPDD, VisA (raw and anomalib's
// converted layout) and a user's own folder, all giving one representation (CategoryData), and
// validate() to find unreadable or truncated images before a long run. The readers look at names
// only; nothing is decoded until validate() or the image loaders.
//
// Layouts (foundations.md §4):
//   mvtec, mpdd   <root>/<category>/train/good/*, test/good/*, test/<defect>/*,
//                 ground_truth/<defect>/<stem>_mask.png (0/255; good images have none)
//   visa (raw)    <root>/split_csv/1cls.csv with columns object,split,label,image,mask (label
//                 normal/anomaly; paths relative to <root>) over <root>/<category>/Data/...; its
//                 masks hold per-defect label ids (1, 2, ...), so any nonzero value is a defect
//   visa (anomalib's 1cls conversion, used when there is no split_csv/1cls.csv)
//                 <root>/<category>/{train/good, test/good, test/bad, ground_truth/bad/<stem>.png}
//   folder        <root>/train/good/*, optional test/good/* and test/<defect>/*, optional masks
//                 ground_truth/<defect>/<stem>_mask.png or <stem>.png
//
// Order: train_good and test are sorted by path (byte order, so 000.png < 001.png and defect
// folders come alphabetically, "good" among them). RD4AD takes os.listdir / glob order, which
// depends on the file system (foundations.md §1.2); AUROC does not depend on the order, but a
// repeatable order makes runs (support sampling, reports) repeatable across machines.
// Images are the regular files (symbolic links followed) named *.png, *.jpg, *.jpeg or *.bmp in
// any case, not starting with '.'; other files (Thumbs.db, .DS_Store, ...) are ignored. A missing
// test/ folder gives an empty test list (enough for meta-training on a category's train/good).
//
// Masks: a caller learns how to binarise a category's masks from CategoryData::mask_any_nonzero
// (true for VisA, whose raw masks are label ids); load_sample_mask() applies it.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "packd/backend/cpu/parallel.hpp"
#include "packd/data/image.hpp"

namespace packd::data {

struct Sample {
  std::string image;
  std::string mask;    // "" when none: good images, and folder data sets' unmasked images
  int label = 0;       // 0 good, 1 anomalous
  std::string defect;  // "good" or the defect folder ("bad" for VisA)
};

struct CategoryData {
  std::string dataset;   // "mvtec", "mpdd", "visa" or "folder"
  std::string category;
  std::string root;      // the data set root as given to the reader
  std::vector<std::string> train_good;  // sorted
  std::vector<Sample> test;             // sorted by image path
  // The masks hold label ids, not 0/255 (VisA): any nonzero value is a defect, and RD4AD's
  // ">= 128 after resizing" would lose them. load_sample_mask() applies this; a caller that
  // reads masks itself must too.
  bool mask_any_nonzero = false;
};

enum class DatasetKind { mvtec, visa, mpdd, folder };

inline const char* dataset_kind_name(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::mvtec: return "mvtec";
    case DatasetKind::visa: return "visa";
    case DatasetKind::mpdd: return "mpdd";
    case DatasetKind::folder: return "folder";
  }
  return "?";
}

inline DatasetKind parse_dataset_kind(const std::string& kind) {
  for (DatasetKind k : {DatasetKind::mvtec, DatasetKind::visa, DatasetKind::mpdd, DatasetKind::folder})
    if (kind == dataset_kind_name(k)) return k;
  PACKD_CHECK(false, "unknown data set kind '", kind, "' (expected mvtec, visa, mpdd or folder)");
  return DatasetKind::folder;  // unreachable
}

// The published category lists (foundations.md §2.1, §4): MVTec AD's 15 in RegAD's alphabetical
// order, VisA's 12, MPDD's 6; empty for folder. What is on disk: list_categories().
inline const std::vector<std::string>& known_categories(DatasetKind kind) {
  static const std::vector<std::string> mvtec_names{"bottle", "cable",    "capsule",   "carpet",     "grid",
                                                    "hazelnut", "leather", "metal_nut", "pill",      "screw",
                                                    "tile",   "toothbrush", "transistor", "wood",    "zipper"};
  static const std::vector<std::string> visa_names{"candle", "capsules", "cashew", "chewinggum", "fryum", "macaroni1",
                                                   "macaroni2", "pcb1", "pcb2", "pcb3", "pcb4", "pipe_fryum"};
  static const std::vector<std::string> mpdd_names{"bracket_black", "bracket_brown", "bracket_white",
                                                   "connector", "metal_plate", "tubes"};
  static const std::vector<std::string> none;
  switch (kind) {
    case DatasetKind::mvtec: return mvtec_names;
    case DatasetKind::visa: return visa_names;
    case DatasetKind::mpdd: return mpdd_names;
    case DatasetKind::folder: return none;
  }
  return none;
}

namespace detail {

namespace fs = std::filesystem;

inline std::string join_path(const std::string& a, const std::string& b) { return (fs::path(a) / b).string(); }

inline bool is_dir(const std::string& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

inline bool is_file(const std::string& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

inline bool has_image_extension(const std::string& name) {
  const std::size_t dot = name.find_last_of('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (char& c : ext) c = char(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return ext == "png" || ext == "jpg" || ext == "jpeg" || ext == "bmp";
}

inline std::string stem_of(const std::string& name) {
  const std::size_t dot = name.find_last_of('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

// Names in `dir` (sorted, byte order): sub-folders when `folders`, else image files; `skipped`
// counts the other regular files. Errors name the folder.
inline std::vector<std::string> list_dir(const std::string& dir, bool folders, const char* op,
                                         int64_t* skipped = nullptr) {
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(dir, ec), end;
  PACKD_CHECK(!ec, op, ": cannot list ", dir, " (", ec.message(), ")");
  for (; it != end; it.increment(ec)) {
    PACKD_CHECK(!ec, op, ": cannot list ", dir, " (", ec.message(), ")");
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    std::error_code ec2;
    if (folders) {
      if (it->is_directory(ec2)) names.push_back(name);
    } else if (it->is_regular_file(ec2)) {
      if (has_image_extension(name)) names.push_back(name);
      else if (skipped) ++*skipped;
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline void require_dir(const std::string& path, const char* op, const std::string& what) {
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  PACKD_CHECK(exists, op, ": ", what, " ", path, " does not exist");
  PACKD_CHECK(is_dir(path), op, ": ", what, " ", path, " is not a directory");
}

inline void check_category_name(const std::string& category, const char* op) {
  PACKD_CHECK(!category.empty() && category != "." && category != ".." && category.find('/') == std::string::npos,
              op, ": invalid category name '", category, "' (a folder name under the data set root)");
}

inline std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s.empty() ? "none" : s;
}

// Sub-folders of root that hold train/good (what mvtec / mpdd / converted visa call categories).
inline std::vector<std::string> category_folders(const std::string& root, const char* op) {
  std::vector<std::string> out;
  for (const auto& name : list_dir(root, true, op))
    if (is_dir(join_path(join_path(root, name), "train/good"))) out.push_back(name);
  return out;
}

// <dir>/train/good: must exist and hold at least one image.
inline std::vector<std::string> read_train_good(const std::string& cat_dir, const char* op) {
  const std::string train = join_path(cat_dir, "train/good");
  require_dir(train, op, "training folder");
  int64_t skipped = 0;
  std::vector<std::string> names = list_dir(train, false, op, &skipped);
  PACKD_CHECK(!names.empty(), op, ": ", train, " holds no images (*.png, *.jpg, *.jpeg, *.bmp; ", skipped,
              " other files ignored)");
  for (auto& n : names) n = join_path(train, n);
  return names;
}

enum class MaskNaming {
  suffix_mask,  // <stem>_mask.png (MVTec, MPDD)
  same_stem,    // <stem>.png (anomalib's VisA conversion)
  either,       // <stem>_mask.png, else <stem>.png (folder)
};

// The MVTec-style layout under cat_dir. masks_required: an anomalous image without its mask is an
// error (else its Sample::mask stays "").
inline void read_mvtec_layout(CategoryData& d, const std::string& cat_dir, const char* op, MaskNaming naming,
                              bool masks_required) {
  d.train_good = read_train_good(cat_dir, op);
  const std::string test = join_path(cat_dir, "test");
  if (!is_dir(test)) return;
  const std::string gt = join_path(cat_dir, "ground_truth");
  for (const std::string& defect : list_dir(test, true, op)) {
    const std::string folder = join_path(test, defect);
    const bool good = defect == "good";
    for (const std::string& name : list_dir(folder, false, op)) {
      Sample s{join_path(folder, name), "", good ? 0 : 1, defect};
      if (!good) {
        const std::string stem = stem_of(name), mask_dir = join_path(gt, defect);
        const std::string with_suffix = join_path(mask_dir, stem + "_mask.png");
        const std::string plain = join_path(mask_dir, stem + ".png");
        if (naming != MaskNaming::same_stem && is_file(with_suffix)) s.mask = with_suffix;
        else if (naming != MaskNaming::suffix_mask && is_file(plain)) s.mask = plain;
        PACKD_CHECK(!masks_required || !s.mask.empty(), op, ": anomalous test image ", s.image, " has no mask (expected ",
                    naming == MaskNaming::same_stem ? plain : with_suffix, ")");
      }
      d.test.push_back(std::move(s));
    }
  }
  std::sort(d.test.begin(), d.test.end(), [](const Sample& a, const Sample& b) { return a.image < b.image; });
}

// ---- VisA's split_csv/1cls.csv ----

struct CsvRow {
  int64_t line = 0;  // 1-based line where the row starts
  std::vector<std::string> fields;
};

// RFC 4180: comma-separated, fields optionally in double quotes ("" escapes a quote, newlines
// allowed inside), LF or CRLF line ends, a leading UTF-8 BOM skipped, blank lines skipped.
inline std::vector<CsvRow> parse_csv(const std::string& text, const std::string& path) {
  std::vector<CsvRow> rows;
  std::size_t i = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  int64_t line = 1;
  while (i < text.size()) {
    CsvRow row{line, {}};
    std::string field;
    bool row_done = false;
    while (!row_done) {
      if (i < text.size() && text[i] == '"') {
        const int64_t start_line = line;
        ++i;
        for (;;) {
          PACKD_CHECK(i < text.size(), path, ":", start_line, ": unterminated quoted field");
          if (text[i] == '"') {
            if (i + 1 < text.size() && text[i + 1] == '"') field += '"', i += 2;
            else {
              ++i;
              break;
            }
          } else {
            if (text[i] == '\n') ++line;
            field += text[i++];
          }
        }
      }
      while (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') field += text[i++];
      row.fields.push_back(std::move(field));
      field.clear();
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      if (i < text.size() && text[i] == '\r') ++i;
      if (i < text.size() && text[i] == '\n') ++i, ++line;
      row_done = true;
    }
    if (!(row.fields.size() == 1 && row.fields[0].empty())) rows.push_back(std::move(row));
  }
  return rows;
}

struct VisaCsv {
  std::string path;
  std::vector<CsvRow> rows;  // without the header
  std::size_t object = 0, split = 0, label = 0, image = 0, mask = 0;  // column indices
};

inline VisaCsv read_visa_csv(const std::string& root) {
  VisaCsv csv;
  csv.path = join_path(root, "split_csv/1cls.csv");
  const std::vector<uint8_t> bytes = read_file_bytes(csv.path, "visa");
  csv.rows = parse_csv(std::string(bytes.begin(), bytes.end()), csv.path);
  PACKD_CHECK(!csv.rows.empty(), "visa: ", csv.path, " is empty (expected the header object,split,label,image,mask)");
  const std::vector<std::string> header = csv.rows.front().fields;
  csv.rows.erase(csv.rows.begin());
  auto column = [&](const char* name) {
    for (std::size_t c = 0; c < header.size(); ++c)
      if (header[c] == name) return c;
    PACKD_CHECK(false, "visa: ", csv.path, ": no column '", name, "' in the header (expected object,split,label,image,mask)");
    return std::size_t(0);
  };
  csv.object = column("object"), csv.split = column("split"), csv.label = column("label");
  csv.image = column("image"), csv.mask = column("mask");
  for (const CsvRow& r : csv.rows)
    PACKD_CHECK(r.fields.size() == header.size(), "visa: ", csv.path, ":", r.line, ": ", r.fields.size(),
                " fields, the header has ", header.size());
  return csv;
}

inline std::vector<std::string> visa_csv_objects(const VisaCsv& csv) {
  std::set<std::string> names;
  for (const CsvRow& r : csv.rows) names.insert(r.fields[csv.object]);
  return {names.begin(), names.end()};
}

inline void read_visa_raw(CategoryData& d, const std::string& root, const std::string& category) {
  const VisaCsv csv = read_visa_csv(root);
  std::vector<const CsvRow*> mine;
  for (const CsvRow& r : csv.rows)
    if (r.fields[csv.object] == category) mine.push_back(&r);
  PACKD_CHECK(!mine.empty(), "visa: category '", category, "' is not in ", csv.path, " (it lists ",
              join_names(visa_csv_objects(csv)), ")");
  require_dir(join_path(root, category), "visa", "category folder");
  for (const CsvRow* r : mine) {
    const std::string& split = r->fields[csv.split];
    const std::string& label = r->fields[csv.label];
    const std::string where = csv.path + ":" + std::to_string(r->line);
    PACKD_CHECK(split == "train" || split == "test", "visa: ", where, ": split '", split, "' is neither train nor test");
    PACKD_CHECK(label == "normal" || label == "anomaly", "visa: ", where, ": label '", label,
                "' is neither normal nor anomaly");
    PACKD_CHECK(!r->fields[csv.image].empty(), "visa: ", where, ": empty image path");
    const std::string image = join_path(root, r->fields[csv.image]);
    PACKD_CHECK(is_file(image), "visa: ", where, ": image ", image, " does not exist");
    if (split == "train") {
      PACKD_CHECK(label == "normal", "visa: ", where, ": a training image labelled anomaly (", image, ")");
      d.train_good.push_back(image);
      continue;
    }
    Sample s{image, "", label == "anomaly" ? 1 : 0, label == "anomaly" ? "bad" : "good"};
    if (s.label == 1) {
      const std::string& m = r->fields[csv.mask];
      PACKD_CHECK(!m.empty(), "visa: ", where, ": anomalous test image ", image, " has no mask (empty mask column)");
      s.mask = join_path(root, m);
      PACKD_CHECK(is_file(s.mask), "visa: ", where, ": anomalous test image ", image, " has no mask (", s.mask,
                  " does not exist)");
    }
    d.test.push_back(std::move(s));
  }
  PACKD_CHECK(!d.train_good.empty(), "visa: ", csv.path, " lists no training images for category '", category, "'");
  std::sort(d.train_good.begin(), d.train_good.end());
  std::sort(d.test.begin(), d.test.end(), [](const Sample& a, const Sample& b) { return a.image < b.image; });
}

inline std::string folder_name(const std::string& root) {
  fs::path p(root);
  if (p.filename().empty()) p = p.parent_path();  // "parts/" -> "parts"
  std::string name = p.filename().string();
  if (name.empty() || name == "." || name == "..") {
    std::error_code ec;
    const fs::path abs = fs::weakly_canonical(root, ec);
    if (!ec && !abs.filename().empty()) name = abs.filename().string();
  }
  return name.empty() ? "folder" : name;
}

}  // namespace detail

// ---- readers ------------------------------------------------------------------------------------

// MVTec AD: <root>/<category>/{train/good, test/<good|defect>, ground_truth/<defect>/<stem>_mask.png}.
// Errors: a missing root, category or train/good folder, an empty train/good, an anomalous test
// image without its mask.
inline CategoryData mvtec(const std::string& root, const std::string& category) {
  detail::require_dir(root, "mvtec", "data set root");
  detail::check_category_name(category, "mvtec");
  const std::string cat_dir = detail::join_path(root, category);
  PACKD_CHECK(detail::is_dir(cat_dir), "mvtec: category '", category, "' not found: ", cat_dir,
              " is not a directory (categories under ", root, ": ",
              detail::join_names(detail::category_folders(root, "mvtec")), ")");
  CategoryData d{"mvtec", category, root, {}, {}, false};
  detail::read_mvtec_layout(d, cat_dir, "mvtec", detail::MaskNaming::suffix_mask, true);
  return d;
}

// MPDD: MVTec's layout and mask names (foundations.md §4.2).
inline CategoryData mpdd(const std::string& root, const std::string& category) {
  detail::require_dir(root, "mpdd", "data set root");
  detail::check_category_name(category, "mpdd");
  const std::string cat_dir = detail::join_path(root, category);
  PACKD_CHECK(detail::is_dir(cat_dir), "mpdd: category '", category, "' not found: ", cat_dir,
              " is not a directory (categories under ", root, ": ",
              detail::join_names(detail::category_folders(root, "mpdd")), ")");
  CategoryData d{"mpdd", category, root, {}, {}, false};
  detail::read_mvtec_layout(d, cat_dir, "mpdd", detail::MaskNaming::suffix_mask, true);
  return d;
}

// VisA: the raw archive when <root>/split_csv/1cls.csv exists (train/test split and labels from
// the csv; anomalous samples get defect "bad"), else anomalib's converted layout
// <root>/<category>/{train/good, test/good, test/bad, ground_truth/bad/<stem>.png}. Either way
// mask_any_nonzero is set (raw masks hold label ids; converted ones are 0/255, where it changes
// nothing). Errors as mvtec(), plus csv rows naming missing files or unknown splits / labels.
inline CategoryData visa(const std::string& root, const std::string& category) {
  detail::require_dir(root, "visa", "data set root");
  detail::check_category_name(category, "visa");
  CategoryData d{"visa", category, root, {}, {}, true};
  if (detail::is_file(detail::join_path(root, "split_csv/1cls.csv"))) {
    detail::read_visa_raw(d, root, category);
    return d;
  }
  const std::string cat_dir = detail::join_path(root, category);
  PACKD_CHECK(detail::is_dir(cat_dir), "visa: category '", category, "' not found: neither ", root,
              "/split_csv/1cls.csv (the raw archive) nor ", cat_dir,
              " (anomalib's converted layout) exists (categories under ", root, ": ",
              detail::join_names(detail::category_folders(root, "visa")), ")");
  detail::read_mvtec_layout(d, cat_dir, "visa", detail::MaskNaming::same_stem, true);
  return d;
}

// A user's own parts: <root>/train/good (required), test/good and test/<defect> (optional), masks
// ground_truth/<defect>/<stem>_mask.png or <stem>.png (optional: an anomalous image without one
// keeps mask ""). `category` names the result; "" takes the root folder's name.
inline CategoryData folder(const std::string& root, const std::string& category = "") {
  detail::require_dir(root, "folder", "data set root");
  CategoryData d{"folder", category.empty() ? detail::folder_name(root) : category, root, {}, {}, false};
  detail::read_mvtec_layout(d, root, "folder", detail::MaskNaming::either, false);
  return d;
}

inline CategoryData open_dataset(DatasetKind kind, const std::string& root, const std::string& category) {
  switch (kind) {
    case DatasetKind::mvtec: return mvtec(root, category);
    case DatasetKind::visa: return visa(root, category);
    case DatasetKind::mpdd: return mpdd(root, category);
    case DatasetKind::folder: return folder(root, category);
  }
  PACKD_CHECK(false, "open_dataset: invalid kind");
  return {};
}

// kind: "mvtec", "visa", "mpdd" or "folder" (for folder, category only names the result).
inline CategoryData open_dataset(const std::string& kind, const std::string& root, const std::string& category) {
  return open_dataset(parse_dataset_kind(kind), root, category);
}

// The categories on disk, sorted: sub-folders of root holding train/good (mvtec, mpdd, converted
// visa), the objects of split_csv/1cls.csv (raw visa), or the root itself (folder: its name).
// Throws when there are none.
inline std::vector<std::string> list_categories(DatasetKind kind, const std::string& root) {
  const char* op = dataset_kind_name(kind);
  detail::require_dir(root, op, "data set root");
  if (kind == DatasetKind::folder) return {detail::folder_name(root)};
  std::vector<std::string> names;
  if (kind == DatasetKind::visa && detail::is_file(detail::join_path(root, "split_csv/1cls.csv")))
    names = detail::visa_csv_objects(detail::read_visa_csv(root));
  else
    names = detail::category_folders(root, op);
  PACKD_CHECK(!names.empty(), op, ": no categories under ", root, " (expected <root>/<category>/train/good",
              kind == DatasetKind::visa ? " or <root>/split_csv/1cls.csv" : "", ")");
  return names;
}

inline std::vector<std::string> list_categories(const std::string& kind, const std::string& root) {
  return list_categories(parse_dataset_kind(kind), root);
}

// One line: "mvtec/bottle: 209 train, 83 test (20 good, 63 anomalous in 3 defect types)".
inline std::string summary(const CategoryData& d) {
  int64_t good = 0, bad = 0, unmasked = 0;
  std::set<std::string> defects;
  for (const Sample& s : d.test) {
    if (s.label == 0) good++;
    else bad++, defects.insert(s.defect), unmasked += s.mask.empty() ? 1 : 0;
  }
  std::ostringstream os;
  os << d.dataset << "/" << d.category << ": " << d.train_good.size() << " train, " << d.test.size() << " test (" << good
     << " good, " << bad << " anomalous in " << defects.size() << " defect type" << (defects.size() == 1 ? "" : "s");
  if (unmasked) os << ", " << unmasked << " without a mask";
  os << ")";
  return os.str();
}

// ---- masks ----------------------------------------------------------------------------------------

// A test sample's ground truth at size x size, (1, 1, size, size) float32 of 0 / 1: zeros for a
// good sample; RD4AD's load_mask (bilinear, >= 128) for 0/255 masks; with mask_any_nonzero, any
// nonzero value in any channel becomes 255 first (as anomalib's VisA conversion writes it), then
// the same pipeline. An anomalous sample without a mask throws (pixel metrics need one).
inline Tensor<float> load_sample_mask(const CategoryData& d, const Sample& s, int64_t size = 256) {
  PACKD_CHECK(size >= 1, "load_sample_mask: size must be positive, got ", size);
  if (s.mask.empty()) {
    PACKD_CHECK(s.label == 0, "load_sample_mask: anomalous image ", s.image, " has no mask");
    Tensor<float> t = Tensor<float>::empty({1, 1, size, size});
    std::fill(t.data(), t.data() + t.numel(), 0.0f);
    return t;
  }
  if (!d.mask_any_nonzero) return load_mask(s.mask, size);
  const Image rgb = read_image(s.mask, 3);
  Image bin{rgb.height, rgb.width, 1, std::vector<uint8_t>(std::size_t(rgb.height * rgb.width))};
  for (std::size_t i = 0; i < bin.pixels.size(); ++i)
    bin.pixels[i] = (rgb.pixels[3 * i] | rgb.pixels[3 * i + 1] | rgb.pixels[3 * i + 2]) ? 255 : 0;
  const Image small = resize_bilinear_pillow(bin, size, size);
  Tensor<float> t = Tensor<float>::empty({1, 1, size, size});
  float* p = t.data();
  for (std::size_t i = 0; i < small.pixels.size(); ++i) p[i] = small.pixels[i] >= 128 ? 1.0f : 0.0f;
  return t;
}

// ---- validation -----------------------------------------------------------------------------------

struct ValidationReport {
  int64_t checked = 0;        // images and masks of the samples checked
  int64_t removed_train = 0;  // dropped with skip_bad
  int64_t removed_test = 0;
  std::vector<std::string> problems;  // one message per bad sample, naming the file
  bool ok() const { return problems.empty(); }
  std::string describe(std::size_t max_listed = 20) const {
    std::ostringstream os;
    os << checked << " files checked, " << problems.size() << " bad";
    if (removed_train + removed_test > 0)
      os << "; removed " << removed_train << " training and " << removed_test << " test images";
    for (std::size_t i = 0; i < problems.size() && i < max_listed; ++i) os << "\n  " << problems[i];
    if (problems.size() > max_listed) os << "\n  ... and " << problems.size() - max_listed << " more";
    return os.str();
  }
};

namespace detail {

// What is wrong with an encoded image's end, or "": a PNG must hold its IEND chunk; a JPEG's last
// marker must be EOI (FF D9), not the start of a scan (FF DA) whose data was cut off (in entropy-
// coded data every FF is followed by 00 or a restart marker, so neither pair occurs there); a
// BMP's declared file size must fit. stb_image reads a truncated JPEG or BMP as zeros, so the full
// decode alone does not catch these.
inline std::string check_image_trailer(const std::vector<uint8_t>& b) {
  const std::size_t n = b.size();
  if (n >= 8 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
    const std::size_t from = n > 4096 ? n - 4096 : 0;  // tolerate a little trailing junk
    for (std::size_t i = n - 3; i-- > from;)
      if (b[i] == 'I' && b[i + 1] == 'E' && b[i + 2] == 'N' && b[i + 3] == 'D') return {};
    return "truncated PNG (no IEND chunk at the end)";
  }
  if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8) {
    for (std::size_t i = n - 1; i >= 3; --i) {
      if (b[i - 1] != 0xFF) continue;
      if (b[i] == 0xD9) return {};
      if (b[i] == 0xDA) break;
    }
    return "truncated JPEG (no end-of-image marker after the last scan)";
  }
  if (n >= 6 && b[0] == 'B' && b[1] == 'M') {
    const uint64_t declared = uint64_t(b[2]) | uint64_t(b[3]) << 8 | uint64_t(b[4]) << 16 | uint64_t(b[5]) << 24;
    if (declared > n) return "truncated BMP (" + std::to_string(n) + " of " + std::to_string(declared) + " bytes)";
  }
  return {};
}

// Reads and checks one file; returns "" or a message naming it. On success height / width are set.
inline std::string inspect_image_file(const std::string& path, bool full_decode, int64_t channels, int64_t& height,
                                      int64_t& width) {
  try {
    const std::vector<uint8_t> bytes = read_file_bytes(path, "validate");
    PACKD_CHECK(!bytes.empty(), "validate: ", path, ": empty file");
    const std::string trailer = check_image_trailer(bytes);
    PACKD_CHECK(trailer.empty(), "validate: ", path, ": ", trailer);
    if (full_decode) {
      const Image im = decode_image(bytes, channels, path);
      height = im.height, width = im.width;
    } else {
      PACKD_CHECK(bytes.size() <= std::size_t(INT_MAX), "validate: ", path, ": file too large");
      const std::string bad_tables = check_jpeg_tables(bytes.data(), bytes.size());
      PACKD_CHECK(bad_tables.empty(), "validate: ", path, ": corrupt JPEG (", bad_tables, ")");
      int w = 0, h = 0, c = 0;
      PACKD_CHECK(stbi_info_from_memory(bytes.data(), int(bytes.size()), &w, &h, &c), "validate: ", path,
                  ": not a PNG, JPEG or BMP image, or corrupt (stb_image: ", stbi_failure_reason(), ")");
      height = h, width = w;
    }
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

}  // namespace detail

// Reads every image and mask of d and checks that it decodes: with full_decode the whole image
// (catches corrupt data; a 1024^2 PNG takes ~20 ms, spread over the worker pool), else only the
// header and the file's end (catches missing, empty, non-image and truncated files). A mask must
// also have its image's size. Without skip_bad the first bad sample (in list order) throws,
// naming the file, after filling `report`; with skip_bad bad samples are removed from d and
// listed in report.problems (train_good must keep at least one image).
inline void validate(CategoryData& d, bool skip_bad, ValidationReport& report, bool full_decode = true) {
  const std::size_t n_train = d.train_good.size(), n = n_train + d.test.size();
  std::vector<std::string> problem(n);
  cpu::pool_for(int64_t(n), cpu::max_threads(), [&](int64_t i) {
    const std::size_t k = std::size_t(i);
    int64_t h = 0, w = 0, mh = 0, mw = 0;
    if (k < n_train) {
      problem[k] = detail::inspect_image_file(d.train_good[k], full_decode, 3, h, w);
      return;
    }
    const Sample& s = d.test[k - n_train];
    problem[k] = detail::inspect_image_file(s.image, full_decode, 3, h, w);
    if (!problem[k].empty() || s.mask.empty()) return;
    problem[k] = detail::inspect_image_file(s.mask, full_decode, 1, mh, mw);
    if (problem[k].empty() && (mh != h || mw != w))
      problem[k] = packd::detail::concat("validate: ", s.mask, ": mask of ", mh, "x", mw, " for an image of ", h, "x", w, " (",
                                  s.image, ")");
  });
  report.checked += int64_t(n);
  for (const Sample& s : d.test) report.checked += s.mask.empty() ? 0 : 1;
  std::size_t first_bad = n;
  for (std::size_t k = 0; k < n; ++k)
    if (!problem[k].empty()) {
      report.problems.push_back(problem[k]);
      first_bad = std::min(first_bad, k);
    }
  if (first_bad == n) return;
  const std::size_t bad_count = std::size_t(std::count_if(problem.begin(), problem.end(), [](const std::string& p) { return !p.empty(); }));
  PACKD_CHECK(skip_bad, problem[first_bad],
              bad_count > 1 ? packd::detail::concat(" (and ", bad_count - 1, " more bad files; skip_bad removes them)") : "");
  std::vector<std::string> train;
  std::vector<Sample> test;
  for (std::size_t k = 0; k < n; ++k) {
    const bool bad = !problem[k].empty();
    if (k < n_train) {
      if (bad) report.removed_train++;
      else train.push_back(d.train_good[k]);
    } else {
      if (bad) report.removed_test++;
      else test.push_back(d.test[k - n_train]);
    }
  }
  PACKD_CHECK(!train.empty() || n_train == 0, "validate: ", d.dataset, "/", d.category, ": all ", n_train,
              " training images are unreadable (first: ", problem[0], ")");
  d.train_good = std::move(train);
  d.test = std::move(test);
}

}  // namespace packd::data
