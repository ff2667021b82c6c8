// Support views (D12): right-angle rotations by default, RegAD's 22 views as an option.
#include "packd/train/augment.hpp"
#include "testing.hpp"

using namespace packd;

TEST_CASE("rot90 views: view 4n + r is support n rotated r times counter-clockwise") {
  Generator gen(0);
  Tensor<float> s = randn<float>({2, 3, 8, 8}, gen);
  Tensor<float> v = train::support_views(s, "rot90");
  REQUIRE(v.shape() == Shape({8, 3, 8, 8}));
  for (int64_t n = 0; n < 2; ++n)
    for (int r = 0; r < 4; ++r) CHECK_CLOSE(v.narrow(0, 4 * n + r, 1), rot90(s.narrow(0, n, 1), r), 0, 0);
  CHECK(train::support_views(s, "none").shape() == s.shape());
  CHECK_THROWS_PACKD(train::support_views(s, "mixup"), "augmentation 'mixup' is unknown");
}

TEST_CASE("regad views: 22 per support, flip and greyscale as RegAD") {
  Generator gen(1);
  Tensor<float> s = randn<float>({1, 3, 16, 16}, gen);
  Tensor<float> v = train::support_views(s, "regad");
  REQUIRE(v.shape() == Shape({22, 3, 16, 16}));
  CHECK_CLOSE(v.narrow(0, 0, 1), s, 0, 0);
  CHECK_CLOSE(v.narrow(0, 20, 1), flip(s, {3}), 0, 0);
  // The greyscale view's de-normalised channels are equal.
  Tensor<float> g = v.narrow(0, 21, 1);
  Tensor<float> r01 = add(mul(g.narrow(1, 0, 1), 0.229f), 0.485f), b01 = add(mul(g.narrow(1, 2, 1), 0.225f), 0.406f);
  CHECK_CLOSE(r01, b01, 1e-5, 1e-5);
  // A shift of 0.2 in normalised coordinates moves the image by 10% of its side: the interior
  // of view 12 (shift (+0.2, +0.2)) is the input moved by 1.6 pixels, so it differs from it.
  CHECK(max(abs(sub(v.narrow(0, 12, 1), s))).item() > 0.1f);
}
