#include <vips/vips.h>

// libvips's API is variadic (NULL-terminated option lists), which Swift cannot call.
// Each wrapper below fixes the options we use and passes the terminator.

static inline int fssam_vips_init(const char *argv0) { return vips_init(argv0); }

// Untrusted input: only the loaders of the supported formats may run. vips_block_untrusted_set
// blocks every loader libvips marks unsafe (ImageMagick, Matlab, FITS, ...); blocking the whole
// VipsForeignLoad family and unblocking the four buffer loaders we call closes the rest (SVG, PDF,
// PPM, GIF, ...). The PNG loader is VipsForeignLoadPngBuffer whether libvips was built on libpng
// or libspng; the Spng name is unblocked too in case a build registers it (unknown names are
// ignored). libvips >= 8.13.
static inline void fssam_vips_restrict_loaders(void) {
    vips_block_untrusted_set(TRUE);
    vips_operation_block_set("VipsForeignLoad", TRUE);
    vips_operation_block_set("VipsForeignLoadJpegBuffer", FALSE);
    vips_operation_block_set("VipsForeignLoadPngBuffer", FALSE);
    vips_operation_block_set("VipsForeignLoadSpngBuffer", FALSE);
    vips_operation_block_set("VipsForeignLoadWebpBuffer", FALSE);
    vips_operation_block_set("VipsForeignLoadTiffBuffer", FALSE);
}

// Header-only opens of an encoded image held in memory, one per supported format, so bytes are
// only ever handed to the loader the content sniffing chose (pixels are decoded on demand; the
// buffer must outlive the image). fail_on=truncated turns a truncated or corrupt file into an
// error instead of a silently grey-filled image. access=sequential is not used: autorot needs
// random access.
static inline VipsImage *fssam_vips_jpegload_buffer(const void *buf, size_t len) {
    VipsImage *out = NULL;
    return vips_jpegload_buffer((void *)buf, len, &out, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL) == 0 ? out : NULL;
}
static inline VipsImage *fssam_vips_pngload_buffer(const void *buf, size_t len) {
    VipsImage *out = NULL;
    return vips_pngload_buffer((void *)buf, len, &out, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL) == 0 ? out : NULL;
}
static inline VipsImage *fssam_vips_webpload_buffer(const void *buf, size_t len) {
    VipsImage *out = NULL;
    return vips_webpload_buffer((void *)buf, len, &out, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL) == 0 ? out : NULL;
}
static inline VipsImage *fssam_vips_tiffload_buffer(const void *buf, size_t len) {
    VipsImage *out = NULL;
    return vips_tiffload_buffer((void *)buf, len, &out, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL) == 0 ? out : NULL;
}

static inline void fssam_vips_concurrency_set(int n) { vips_concurrency_set(n); }

static inline int fssam_vips_autorot(VipsImage *in, VipsImage **out) { return vips_autorot(in, out, NULL); }

static inline int fssam_vips_colourspace(VipsImage *in, VipsImage **out, VipsInterpretation space) {
    return vips_colourspace(in, out, space, NULL);
}

static inline int fssam_vips_cast(VipsImage *in, VipsImage **out, VipsBandFormat format) {
    return vips_cast(in, out, format, NULL);
}

static inline int fssam_vips_extract_band(VipsImage *in, VipsImage **out, int band, int n) {
    return vips_extract_band(in, out, band, "n", n, NULL);
}

static inline int fssam_vips_pngsave_buffer(VipsImage *in, void **buf, size_t *len, int compression) {
    return vips_pngsave_buffer(in, buf, len, "compression", compression, "strip", 1, NULL);
}

static inline VipsImage *fssam_vips_new_from_memory_copy(const void *data, size_t size, int width, int height,
                                                         int bands, VipsBandFormat format) {
    return vips_image_new_from_memory_copy(data, size, width, height, bands, format);
}

static inline void fssam_g_object_unref(void *object) { g_object_unref(object); }
static inline void fssam_g_free(void *p) { g_free(p); }

static inline int fssam_vips_jpegsave_buffer(VipsImage *in, void **buf, size_t *len, int quality) {
    return vips_jpegsave_buffer(in, buf, len, "Q", quality, NULL);
}

static inline int fssam_vips_copy(VipsImage *in, VipsImage **out) { return vips_copy(in, out, NULL); }

// A copy of `in` labelled with another interpretation (e.g. GREY16, so pngsave keeps 16 bits).
static inline int fssam_vips_copy_interpretation(VipsImage *in, VipsImage **out, VipsInterpretation interpretation) {
    return vips_copy(in, out, "interpretation", interpretation, NULL);
}
