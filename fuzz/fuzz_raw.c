/* fuzz_raw.c -- libFuzzer target for the raw reader (src/io): the first 3 bytes give the row
 * length (int16, any sign) and the dtype (any value, unknown ones included), the rest is the
 * file; see fuzz_io_common.h. */
#include "fuzz_io_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len) {
    if (len < 3) return 0;
    const int64_t d = (int16_t)(buf[0] | buf[1] << 8);
    return fuzz_io_run(buf + 3, len - 3, FKM_FMT_RAW, d, (fkm_dtype)(buf[2] % 7));
}
