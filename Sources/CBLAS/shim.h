// cblas.h lives in an arch/variant include directory (openblas-pthread); pkg-config finds it.
#include <cblas.h>

// OpenBLAS extensions used to pin the thread count (declared in OpenBLAS's cblas.h).
