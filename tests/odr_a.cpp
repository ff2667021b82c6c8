// Note: odr_a.cpp and odr_b.cpp both include the umbrella header (and the headers it leaves out) and link into one binary; a
// non-inline function defined in any packd header would be a duplicate symbol.
#include <catch2/catch.hpp>

#include "packd/data/image.hpp"
#include "packd/io/checkpoint.hpp"
#include "packd/io/sha256.hpp"
#include "packd/io/weights.hpp"
#include "packd/models/rd.hpp"
#include "packd/nn.hpp"
#include "packd/packd.hpp"

float odr_b_sum();

TEST_CASE("two translation units including packd.hpp link and agree", "[odr]") {
  float a = packd::sum(packd::ones<float>({4, 5})).item();
  CHECK(a == 20.0f);
  CHECK(odr_b_sum() == 20.0f);
}
