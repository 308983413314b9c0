/* Validation harness: runs the bundle compiled in on the samples of harness_data.c and reports, as
 * text lines for `explore validate`:
 *
 *   I <sample> <logits>                       inference before training
 *   S <step> <sample> <loss> <kept...> <instructions>   each training sample
 *   U <step> <instructions>                   the update ending the step's minibatch
 *   P <step> <layer> <name> <bytes>           every trainable array after the update
 *   F <sample> <logits> <instructions>        inference after training
 *   M <stack high-water bytes> <counts instructions 0/1>
 *   K <layer> <event> <instructions> <calls>  per-kernel profile (EXPLORE_PROFILE builds; layer L: loss)
 *   X <status>                                a runtime error (exit status 3)
 *
 * Numbers are hexadecimal; floats and arrays are their little-endian bytes in hex, so that the
 * comparison is bit for bit.  No printf: it would bring most of newlib into the image. */
#include <stdint.h>

#include "explore_rt.h"
#include "harness_data.h"
#include "port.h"

#define ARENA_BYTES (EXPLORE_ARENA_BYTES > EXPLORE_INFERENCE_ARENA_BYTES ? EXPLORE_ARENA_BYTES \
                                                                       : EXPLORE_INFERENCE_ARENA_BYTES)

static uint8_t arena[ARENA_BYTES + 4] __attribute__((aligned(8)));
static float state[EXPLORE_HARNESS_STATE_FLOATS + 1];
static explore_ctx_t ctx;
static const explore_model_t model = EXPLORE_BUNDLE_MODEL;

#ifdef EXPLORE_PROFILE
/* Per (layer, event) instruction totals of the training samples and updates (K lines). */
static uint64_t profile_total[EXPLORE_NUM_LAYERS + 1][16];
static uint32_t profile_calls[EXPLORE_NUM_LAYERS + 1][16];
static int profiling;

uint64_t explore_profile_clock(void)
{
    return explore_port_instructions();
}

void explore_profile_record(int32_t layer, uint32_t event, uint64_t instructions)
{
    if (profiling && layer >= 0 && layer <= EXPLORE_NUM_LAYERS && event < 16u) {
        profile_total[layer][event] += instructions;
        profile_calls[layer][event] += 1u;
    }
}
#endif

static void put(const char *text)
{
    uint32_t n = 0;
    while (text[n]) {
        n++;
    }
    explore_port_write(text, n);
}

static void put_hex_bytes(const void *data, uint32_t n)
{
    static const char digits[] = "0123456789abcdef";
    const uint8_t *bytes = (const uint8_t *)data;
    char chunk[64];
    uint32_t used = 0;
    for (uint32_t k = 0; k < n; k++) {
        chunk[used++] = digits[bytes[k] >> 4];
        chunk[used++] = digits[bytes[k] & 15u];
        if (used == sizeof chunk) {
            explore_port_write(chunk, used);
            used = 0;
        }
    }
    explore_port_write(chunk, used);
}

static void put_u64(uint64_t value)
{
    char text[17];
    int n = 0;
    do {
        text[n++] = "0123456789abcdef"[value & 15u];
        value >>= 4;
    } while (value);
    char out[17];
    for (int k = 0; k < n; k++) {
        out[k] = text[n - 1 - k];
    }
    explore_port_write(out, (uint32_t)n);
}

static void field_u64(uint64_t value)
{
    put(" ");
    put_u64(value);
}

static void field_bytes(const void *data, uint32_t n)
{
    put(" ");
    put_hex_bytes(data, n);
}

static void check(explore_status_t status)
{
    if (status != EXPLORE_OK) {
        put("X");
        field_u64((uint64_t)(uint32_t)status);
        put(" ");
        put(explore_status_name(status));
        put("\n");
        explore_port_exit(3);
    }
}

static const float *sample(uint32_t index)
{
    return &explore_harness_inputs[(index % EXPLORE_HARNESS_SAMPLES) * EXPLORE_HARNESS_INPUT_SIZE];
}

static void infer(const char *tag, uint32_t index)
{
    float logits[EXPLORE_NUM_CLASSES];
    uint64_t start = explore_port_instructions();
    check(explore_infer(&ctx, sample(index), logits));
    uint64_t spent = explore_port_instructions() - start;
    put(tag);
    field_u64(index);
    field_bytes(logits, sizeof logits);
    field_u64(spent);
    put("\n");
}

#ifdef EXPLORE_PROFILE
static void report_profile(void)
{
    for (uint32_t layer = 0; layer <= EXPLORE_NUM_LAYERS; layer++) {
        for (uint32_t event = 0; event < 16u; event++) {
            if (profile_calls[layer][event]) {
                put("K");
                field_u64(layer);
                field_u64(event);
                field_u64(profile_total[layer][event]);
                field_u64(profile_calls[layer][event]);
                put("\n");
            }
        }
    }
}
#endif

static void dump_trainable(uint32_t step)
{
    for (uint16_t k = 0; k < EXPLORE_NUM_TRAINABLE; k++) {
        const explore_trainable_t *t = &explore_trainable[k];
        const char *names[5] = {" w_q", " b_q", " b_f", " qparams", " w_f"};
        const void *data[6] = {t->w_q, t->b_q, t->b_f, t->qparams, t->w_f, t->bias_f};
        uint32_t sizes[6] = {t->weight_count, 4u * t->channels, 4u * t->channels, sizeof(explore_qparams_t),
                             4u * t->weight_count, 4u * t->channels};
        for (int a = 0; a < 6; a++) {
            if (!data[a]) {
                continue;
            }
            put("P");
            field_u64(step);
            field_u64(t->layer);
            put(a < 5 ? names[a] : " bias_f");
            field_bytes(data[a], sizes[a]);
            put("\n");
        }
    }
}

static void train_step(uint32_t step)
{
    for (uint32_t k = 0; k < EXPLORE_HARNESS_BATCH; k++) {
        uint32_t index = step * EXPLORE_HARNESS_BATCH + k;
        float loss;
        float kept[EXPLORE_NUM_TRAINABLE];
        uint64_t start = explore_port_instructions();
        check(explore_train_sample(&ctx, sample(index), explore_harness_labels[index % EXPLORE_HARNESS_SAMPLES],
                                   &loss, kept));
        uint64_t spent = explore_port_instructions() - start;
        put("S");
        field_u64(step);
        field_u64(index);
        field_bytes(&loss, sizeof loss);
        field_bytes(kept, sizeof kept);
        field_u64(spent);
        put("\n");
    }
    uint64_t start = explore_port_instructions();
    check(explore_update(&ctx));
    put("U");
    field_u64(step);
    field_u64(explore_port_instructions() - start);
    put("\n");
    if (EXPLORE_HARNESS_DUMP_EVERY && (step + 1) % EXPLORE_HARNESS_DUMP_EVERY == 0) {
        dump_trainable(step);
    }
}

int main(void)
{
    explore_port_init();
    check(explore_init(&ctx, &model, arena, ARENA_BYTES, state, sizeof state));
    for (uint32_t k = 0; k < EXPLORE_HARNESS_INFER; k++) {
        infer("I", k);
    }
#ifdef EXPLORE_PROFILE
    profiling = 1;
#endif
    for (uint32_t step = 0; step < EXPLORE_HARNESS_STEPS; step++) {
        train_step(step);
    }
#ifdef EXPLORE_PROFILE
    profiling = 0;
    report_profile();
#endif
    for (uint32_t k = 0; k < EXPLORE_HARNESS_INFER; k++) {
        infer("F", k);
    }
    put("M");
    field_u64(explore_port_stack_high_water());
    field_u64((uint64_t)explore_port_counts_instructions());
    put("\n");
    explore_port_exit(0);
}
