/* Example: train this bundle's model on the device, on a few samples held in a buffer, and classify
 * them before and after.  It uses only the runtime's public API (explore_rt.h): explore_init, then
 * explore_train_sample for every sample and explore_update after every minibatch, and explore_infer.
 *
 * The samples are made up (each class a fixed pattern plus noise) so that the example runs anywhere;
 * replace make_samples() with your own data.  One sample is INPUT_FLOATS floats, channels last
 * (NLC: length x channels, or NHWC: height x width x channels) as the model was trained, and a
 * label 0 .. EXPLORE_NUM_CLASSES - 1.  Output goes through printf (with newlib-nano, link with
 * -u _printf_float to see the losses); on a board without it, change the printf calls.  main returns
 * 0 when every call succeeded and every loss was finite.
 *
 * EXAMPLE_SAMPLES (default: 2 per class) and EXAMPLE_EPOCHS (default 30) can be set with -D.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "explore_rt.h"

#if EXPLORE_INPUT_RANK == 2
#define INPUT_FLOATS (EXPLORE_INPUT_DIM0 * EXPLORE_INPUT_DIM1)
#else
#define INPUT_FLOATS (EXPLORE_INPUT_DIM0 * EXPLORE_INPUT_DIM1 * EXPLORE_INPUT_DIM2)
#endif
#ifndef EXAMPLE_SAMPLES
#define EXAMPLE_SAMPLES (2 * EXPLORE_NUM_CLASSES)
#endif
#ifndef EXAMPLE_EPOCHS
#define EXAMPLE_EPOCHS 30
#endif
/* One arena serves training and inference, so it is as large as the larger of the two plans. */
#define ARENA_BYTES (EXPLORE_ARENA_BYTES > EXPLORE_INFERENCE_ARENA_BYTES ? EXPLORE_ARENA_BYTES \
                                                                       : EXPLORE_INFERENCE_ARENA_BYTES)

/* A union aligns the arena in plain C99 (no compiler attribute); the runtime checks the alignment. */
static union {
    uint8_t bytes[ARENA_BYTES];
    uint64_t align_integer;
    double align_float;
} arena;
typedef char arena_alignment_is_enough[EXPLORE_ARENA_ALIGNMENT <= sizeof(double) ? 1 : -1];

static float state[EXPLORE_STATE_FLOATS];   /* gradients and statistics of the trainable layers */
static const explore_model_t model = EXPLORE_BUNDLE_MODEL;
static explore_ctx_t ctx;

static float inputs[EXAMPLE_SAMPLES][INPUT_FLOATS];
static int32_t labels[EXAMPLE_SAMPLES];

/* A small deterministic generator, so every run (and every target) sees the same samples. */
static uint32_t next_random(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return *seed >> 8;
}

/* Sample s has class s % EXPLORE_NUM_CLASSES: the class's fixed on/off pattern over the input's
   quantization range, plus noise of a fifth of that range. */
static void make_samples(void)
{
    const float low = (0.0f - (float)explore_input_quant.zero) * explore_input_quant.scale;
    const float span = 255.0f * explore_input_quant.scale;
    uint32_t seed = 12345u;
    for (uint32_t s = 0; s < EXAMPLE_SAMPLES; s++) {
        uint32_t label = s % EXPLORE_NUM_CLASSES;
        uint32_t pattern = 2654435761u * (label + 1u);
        labels[s] = (int32_t)label;
        for (uint32_t i = 0; i < INPUT_FLOATS; i++) {
            uint32_t on = ((pattern * (i + 7u)) >> 29) & 1u;
            float noise = (float)(next_random(&seed) & 0xffffu) / 65536.0f;
            inputs[s][i] = low + span * (0.8f * (float)on + 0.2f * noise);
        }
    }
}

static int failed(const char *what, explore_status_t status)
{
    if (status == EXPLORE_OK) {
        return 0;
    }
    printf("%s failed: %s (%d)\n", what, explore_status_name(status), (int)status);
    return 1;
}

/* Samples of the buffer the model classifies correctly; -1 if inference fails. */
static int correct_samples(void)
{
    int correct = 0;
    for (uint32_t s = 0; s < EXAMPLE_SAMPLES; s++) {
        float logits[EXPLORE_NUM_CLASSES];
        if (failed("explore_infer", explore_infer(&ctx, inputs[s], logits))) {
            return -1;
        }
        uint32_t best = 0;
        for (uint32_t c = 1; c < EXPLORE_NUM_CLASSES; c++) {
            best = logits[c] > logits[best] ? c : best;
        }
        correct += (int32_t)best == labels[s];
    }
    return correct;
}

/* One pass over the buffer; an update after every minibatch (the runtime counts the samples since
   the last one, so minibatches run on across passes).  Returns the mean loss, NAN on failure. */
static float train_epoch(uint32_t *samples_in_batch)
{
    float total = 0.0f;
    for (uint32_t s = 0; s < EXAMPLE_SAMPLES; s++) {
        float loss;
        if (failed("explore_train_sample", explore_train_sample(&ctx, inputs[s], labels[s], &loss, NULL))
            || !isfinite(loss)) {
            return NAN;
        }
        total += loss;
        if (++*samples_in_batch == (uint32_t)explore_training.batch_size) {
            *samples_in_batch = 0;
            if (failed("explore_update", explore_update(&ctx))) {
                return NAN;
            }
        }
    }
    return total / (float)EXAMPLE_SAMPLES;
}

int main(void)
{
    make_samples();
    if (failed("explore_init", explore_init(&ctx, &model, arena.bytes, sizeof arena.bytes, state, sizeof state))) {
        return 1;
    }
    printf("model %s: %u layers, %u classes, batch size %u, %u samples\n", EXPLORE_BUNDLE_FORMAT,
           (unsigned)EXPLORE_NUM_LAYERS, (unsigned)EXPLORE_NUM_CLASSES, (unsigned)explore_training.batch_size,
           (unsigned)EXAMPLE_SAMPLES);
    int before = correct_samples();
    uint32_t samples_in_batch = 0;
    for (uint32_t epoch = 0; epoch < EXAMPLE_EPOCHS; epoch++) {
        float loss = train_epoch(&samples_in_batch);
        if (!isfinite(loss)) {
            printf("epoch %u: training failed\n", (unsigned)epoch);
            return 1;
        }
        printf("epoch %u: mean loss %.6f\n", (unsigned)epoch, (double)loss);
    }
    int after = correct_samples();
    if (before < 0 || after < 0) {
        return 1;
    }
    printf("correct before training %d of %d, after %d of %d\n", before, (int)EXAMPLE_SAMPLES, after,
           (int)EXAMPLE_SAMPLES);
    return 0;
}
