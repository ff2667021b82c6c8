#pragma once
// PACKD's training objective (Eq. 7), averaged over the batch:
//
//   L = sum_i [ KD_i + lambda1 * NCE_i + lambda2 * ORTH_i ]
//   KD_i   (Eq. 1)  mean over queries of 1 - cos(flat tq_i, flat S_i)           (RD's loss)
//   NCE_i  (Eq. 5-6, D8, D9, D16) mean over queries b and their support views v of
//                   -pos(b, v) / tau + log sum_{j: label_j != label_b} exp(neg(b, v, j) / tau)
//          pos = <R(s_v, q_b)^{TT}, R(s_v, q_b)^{TS}>_F / N^2,  neg_j = <R^{TT}, R(s_v, q_j)^{TS}>_F / N^2,
//          R^{TT} = S^T Q (N x N), R^{TS}_j = S^T G_j: S, Q, G_j the column-normalised (C, N) teacher
//          support, teacher query and projected student query features.
//   ORTH_i (D4)     mean over prototype sets of ||P^ P^T - I_L||_F^2 / L^2
//
// The N x N correspondences are never formed: with Z = S S^T Q (C x N),
//   <S^T Q, S^T G_j>_F = <Z, G_j>_F   for every j at once (one GEMM),
// and Z is computed in the cheaper association: (S S^T) Q (the Gram form, C^2 N) when C < N, else
// S (S^T Q) (the direct form, N^2 C) (packd-method.md 5). CdsForm forces one for the tests.
#include <array>
#include <limits>
#include <vector>

#include "packd/dist/autograd.hpp"
#include "packd/models/packd.hpp"
#include "packd/ops/softmax.hpp"

namespace packd::models {

enum class CdsForm { cheaper, gram, direct };

template <FloatScalar T>
struct PackdLoss {
  Tensor<T> total;               // ()
  std::array<Tensor<T>, 3> kd;   // () each
  std::array<Tensor<T>, 3> nce;  // () each; undefined when lambda1 == 0
  std::array<Tensor<T>, 3> orth; // () each; undefined without prototypes
};

// D4: prototypes (B, M, C) in sets of L (per view, or one set per query with joint pooling).
template <FloatScalar T>
Tensor<T> orth_loss(const Tensor<T>& prototypes, int64_t L, const std::string& kind) {
  const int64_t sets = prototypes.size(0) * prototypes.size(1) / L, C = prototypes.size(2);
  Tensor<T> p = unit(prototypes.reshape({sets, L, C}), 2);  // (sets, L, C)
  Tensor<T> gram = bmm(p, p.transpose(1, 2));               // (sets, L, L)
  Tensor<T> eye = zeros<T>({L, L}, prototypes.device());
  {
    NoGradGuard ng;
    for (int64_t l = 0; l < L; ++l) eye.narrow(0, l, 1).narrow(1, l, 1).fill_(T(1));
  }
  if (kind == "offdiag_abs") {  // mean |off-diagonal|: sum / (L (L - 1)) per set
    if (L < 2) return zeros<T>({}, prototypes.device());
    Tensor<T> off = mul(abs(gram), add(neg(eye), T(1)));
    return mul(sum(off), T(1.0 / double(sets * L * (L - 1))));
  }
  Tensor<T> d = sub(gram, eye);
  return mul(sum(mul(d, d)), T(1.0 / double(sets * L * L)));
}

// Eq. 5-6 at one stage, averaged over queries and views.
//   ts (B V, C, H, W) teacher support views, tq (B, C, H, W) teacher queries, g (B, C, H, W) the
//   projected student queries, labels: each query's category.
//   With a communicator of R > 1 ranks (data-parallel training), this rank's B queries are rows
//   [rank B, (rank + 1) B) of the global batch: the negatives' G_j are gathered from every rank
//   (dist::all_gather, whose backward returns each rank's share of the gradient), so the loss of a
//   row is the single-process one, and the mean over local rows averaged over ranks is the global mean.
template <FloatScalar T>
Tensor<T> nce_loss(const Tensor<T>& ts, const Tensor<T>& tq, const Tensor<T>& g, const std::vector<int64_t>& labels,
                   const PackdConfig& cfg, CdsForm form = CdsForm::cheaper, dist::Communicator* comm = nullptr) {
  const int64_t B = tq.size(0), C = tq.size(1), N = tq.size(2) * tq.size(3), V = ts.size(0) / B;
  PACKD_CHECK(int64_t(labels.size()) == B, "CDS: ", labels.size(), " labels for a batch of ", B);
  const bool distributed = comm && comm->size() > 1;
  Tensor<T> S = unit(ts.reshape({B * V, C, N}), 1);                                   // (B V, C, N)
  Tensor<T> Q = unit(tq.reshape({B, C, N}), 1);                                       // (B, C, N)
  Tensor<T> G_local = unit(g.reshape({B, C, N}), 1);                                  // (B, C, N)
  // The columns: every query of the global batch (Bc = R B), and their labels.
  Tensor<T> G = distributed ? dist::all_gather(G_local, *comm) : G_local;             // (Bc, C, N)
  const int64_t Bc = G.size(0), first = distributed ? comm->rank() * B : 0;
  std::vector<int64_t> col_labels = labels;
  if (distributed) {
    col_labels.resize(std::size_t(Bc));
    comm->all_gather(labels.data(), col_labels.data(), labels.size() * sizeof(int64_t), Device::cpu());
  }
  Tensor<T> Qv = Q.unsqueeze(1).expand({B, V, C, N}).reshape({B * V, C, N});          // (B V, C, N): q_b per view
  const bool gram = form == CdsForm::gram || (form == CdsForm::cheaper && C < N);
  Tensor<T> St = S.transpose(1, 2);                                                   // (B V, N, C)
  Tensor<T> Z = gram ? bmm(bmm(S, St), Qv) : bmm(S, bmm(St, Qv));                     // (B V, C, N) = S S^T q_b
  Tensor<T> dots = matmul(Z.reshape({B * V, C * N}), G.reshape({Bc, C * N}).t());     // (B V, Bc): <R^TT, R^TS_j>_F
  if (cfg.corr_dot == "cosine") {
    // cos = <A, B_j> / (|A| |B_j|): |A|^2 = <Z, q_b>, |B_j|^2 = <S S^T G_j, G_j>.
    Tensor<T> a2 = sum(mul(Z, Qv).reshape({B * V, C * N}), {1}, true);                // (B V, 1)
    Tensor<T> K = bmm(S, St);                                                         // (B V, C, C)
    Tensor<T> Ga = G.permute({1, 0, 2}).reshape({C, Bc * N});                         // (C, Bc N)
    Tensor<T> KG = matmul(K, Ga);                                                     // (B V, C, Bc N)
    Tensor<T> b2 = sum(mul(KG, Ga.unsqueeze(0)).reshape({B * V, C, Bc, N}), {1, 3});  // (B V, Bc)
    dots = div(dots, sqrt(clamp_min(mul(a2, b2), T(1e-30))));
  } else {
    dots = mul(dots, T(1.0 / (double(N) * double(N))));
  }
  Tensor<T> logits = mul(dots, T(1.0 / cfg.tau));  // (B V, Bc)
  // Column mask per row: 0 for the negatives used, -inf for the rest; the positive's column.
  std::vector<T> mask(std::size_t(B * V * Bc), -std::numeric_limits<T>::infinity());
  std::vector<int64_t> pos_index(std::size_t(B * V));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t self = first + b, label = col_labels[std::size_t(self)];
    int64_t used = 0;
    for (int64_t j = 0; j < Bc; ++j) {
      if (col_labels[std::size_t(j)] == label) continue;
      if (cfg.negatives > 0 && used >= cfg.negatives) break;
      ++used;
      for (int64_t v = 0; v < V; ++v) mask[std::size_t(((b * V + v) * Bc) + j)] = T(0);
    }
    PACKD_CHECK(used > 0, "CDS: query ", self, " (category ", label,
                ") has no query of another category in its batch to contrast with; batches need at least two categories");
    for (int64_t v = 0; v < V; ++v) {
      pos_index[std::size_t(b * V + v)] = self;
      if (cfg.nce_positive_in_denominator == "on") mask[std::size_t(((b * V + v) * Bc) + self)] = T(0);
    }
  }
  Tensor<T> m = from_vector<T>(mask, {B * V, Bc}).to(tq.device());
  Tensor<int64_t> pi = from_vector<int64_t>(pos_index, {B * V, 1}).to(tq.device());
  Tensor<T> pos = gather(logits, 1, pi).reshape({B * V});            // (B V,)
  Tensor<T> lse = logsumexp(add(logits, m), 1);                      // (B V,)
  return mean(sub(lse, pos));
}

// The whole objective for one episode (a PackdStudent forward in training mode).
// comm: the data-parallel group (CDS negatives come from every rank's queries); nullptr for one process.
template <FloatScalar T>
PackdLoss<T> packd_loss(PackdStudent<T>& model, const PackdForward<T>& f, const std::vector<int64_t>& labels,
                        CdsForm form = CdsForm::cheaper, dist::Communicator* comm = nullptr) {
  const PackdConfig& cfg = model.config();
  PackdLoss<T> out;
  out.total = rd_loss(f.teacher, f.student);
  for (int i = 0; i < 3; ++i) {
    const int64_t n = f.teacher[i].size(0);
    out.kd[std::size_t(i)] = mean(add(neg(cosine_similarity(f.teacher[i].reshape({n, -1}), f.student[i].reshape({n, -1}), 1, 1e-8)), T(1)));
  }
  for (int i = 0; i < 3; ++i) {
    if (cfg.lambda1 > 0 && f.support[i].defined()) {
      Tensor<T> nce = nce_loss(f.support[i], f.teacher[i], model.project(i, f.student[i]), labels, cfg, form, comm);
      out.nce[std::size_t(i)] = nce;
      out.total = add(out.total, mul(nce, T(cfg.lambda1)));
    }
    if (cfg.lambda2 > 0 && f.prototypes[i].defined()) {
      Tensor<T> orth = orth_loss(f.prototypes[i], cfg.prototypes, cfg.orth);
      out.orth[std::size_t(i)] = orth;
      out.total = add(out.total, mul(orth, T(cfg.lambda2)));
    }
  }
  return out;
}

}  // namespace packd::models
