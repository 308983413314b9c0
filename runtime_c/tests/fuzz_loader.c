/* Loader fuzz: explore_init (and, where it accepts, infer / train / update) on mutated copies of the
 * bundle compiled in.  Built with ASan + UBSan (CMake option EXPLORE_FUZZ_LOADER, see README.md):
 *
 *     fuzz_loader [ITERATIONS [SEED]] [--verbose] [--extreme-scales] [--exercise-moved]
 *
 * explore_init checks every buffer against the arena's bounds but not against the other buffers
 * live at the same time, and the backward pass indexes with values it reads back from the arena
 * (max-pool winners, kept-channel lists).  A training plan whose buffers were moved or renamed can
 * therefore be accepted and then make the runtime read/write outside the arena (README.md, "Known
 * runtime bugs").  By default such accepted plans are counted but not run; --exercise-moved runs
 * them.  --extreme-scales adds quantization scales (1e-30, 1e29) that saturate the int32 bias.
 *
 * First a few targeted corruptions that must be refused with a given status, then ITERATIONS
 * (default 20000) rounds of 1-3 random field mutations of a fresh copy of the description.  The
 * arena is a heap block of exactly the size the ORIGINAL plan needs and the state a heap block of
 * exactly the original's floats, so any access outside them is a sanitizer error; so are the
 * trainable arrays (fresh exact-size heap copies every round).  Prints one line per targeted case,
 * then the refusals per status and the acceptances; exits 1 if a targeted case got the wrong status. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explore_rt.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define HAVE_DEATH_CALLBACK 1
#endif

#define L EXPLORE_NUM_LAYERS
#define T EXPLORE_NUM_TRAINABLE
#define NTB EXPLORE_NUM_TRAINING_BUFFERS
#define NIB EXPLORE_NUM_INFERENCE_BUFFERS
#define ARENA (EXPLORE_ARENA_BYTES > EXPLORE_INFERENCE_ARENA_BYTES ? EXPLORE_ARENA_BYTES \
                                                                  : EXPLORE_INFERENCE_ARENA_BYTES)
#define NAME_LEN 40

static const explore_model_t original = EXPLORE_BUNDLE_MODEL;

/* --- the writable copy of the description -------------------------------------------------- */

static explore_model_t model;
static explore_layer_t layers[L];
static explore_trainable_t trainable[T];
static explore_training_config_t training;
static uint16_t trainable_layers[T];
static explore_buffer_t training_buffers[NTB];
static explore_buffer_t inference_buffers[NIB];
static char training_names[NTB][NAME_LEN];
static char inference_names[NIB][NAME_LEN];
static explore_tensor_quant_t input_quant;
static explore_tensor_quant_t act_quant[L];
static char format[NAME_LEN];
static void *owned[6 * T];      /* exact-size heap copies of the trainable arrays */

static void *heap_copy(const void *src, size_t bytes)
{
    if (!src) {
        return 0;
    }
    void *p = malloc(bytes);
    memcpy(p, src, bytes);
    return p;
}

static void fresh_copy(void)
{
    model = original;
    memcpy(layers, explore_layers, sizeof layers);
    memcpy(trainable, explore_trainable, sizeof trainable);
    training = explore_training;
    memcpy(trainable_layers, explore_trainable_layers, sizeof trainable_layers);
    memcpy(training_buffers, explore_training_buffers, sizeof training_buffers);
    memcpy(inference_buffers, explore_inference_buffers, sizeof inference_buffers);
    for (int k = 0; k < NTB; k++) {
        snprintf(training_names[k], NAME_LEN, "%s", explore_training_buffers[k].name);
        training_buffers[k].name = training_names[k];
    }
    for (int k = 0; k < NIB; k++) {
        snprintf(inference_names[k], NAME_LEN, "%s", explore_inference_buffers[k].name);
        inference_buffers[k].name = inference_names[k];
    }
    input_quant = explore_input_quant;
    memcpy(act_quant, explore_act_quant, sizeof act_quant);
    snprintf(format, NAME_LEN, "%s", EXPLORE_BUNDLE_FORMAT);
    training.trainable_layers = trainable_layers;
    model.format = format;
    model.layers = layers;
    model.input_quant = &input_quant;
    model.act_quant = act_quant;
    model.trainable = trainable;
    model.training = &training;
    model.training_buffers = training_buffers;
    model.inference_buffers = inference_buffers;
    for (int k = 0; k < T; k++) {
        const explore_trainable_t *o = &explore_trainable[k];
        explore_trainable_t *t = &trainable[k];
        explore_layer_t *l = &layers[o->layer];
        t->w_q = owned[6 * k] = heap_copy(o->w_q, o->weight_count);
        t->b_q = owned[6 * k + 1] = heap_copy(o->b_q, 4u * o->channels);
        t->b_f = owned[6 * k + 2] = heap_copy(o->b_f, 4u * o->channels);
        t->qparams = owned[6 * k + 3] = heap_copy(o->qparams, sizeof *o->qparams);
        t->w_f = owned[6 * k + 4] = heap_copy(o->w_f, 4u * o->weight_count);
        t->bias_f = owned[6 * k + 5] = heap_copy(o->bias_f, 4u * o->channels);
        l->w_q = t->w_q;
        l->b_q = t->b_q;
        l->b_f = t->b_f;
        l->qparams = t->qparams;
        l->w_f = t->w_f;
        l->bias_f = t->bias_f;
    }
}

static void release_copy(void)
{
    for (int k = 0; k < 6 * T; k++) {
        free(owned[k]);
        owned[k] = 0;
    }
}

/* --- random numbers and the mutation log ------------------------------------------------------ */

static uint32_t rng_state = 1;
static uint32_t next_u32(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}
static uint32_t below(uint32_t n)
{
    return n ? next_u32() % n : 0;
}

static int extreme_scales;
static int exercise_moved;
static char log_text[512];
static unsigned long iteration;
static void note(const char *what, long before, long after)
{
    size_t used = strlen(log_text);
    snprintf(log_text + used, sizeof log_text - used, "%s%s: %ld -> %ld", used ? "; " : "", what, before, after);
}

#ifdef HAVE_DEATH_CALLBACK
static void on_death(void)
{
    fprintf(stderr, "fuzz_loader: sanitizer error in iteration %lu after mutations: %s\n", iteration, log_text);
}
#endif

/* A new value near (or far from) v. */
static uint32_t perturb(uint32_t v)
{
    switch (below(9)) {
    case 0: return v + 1;
    case 1: return v - 1;
    case 2: return v + 4;
    case 3: return v - 4;
    case 4: return v * 2;
    case 5: return v / 2;
    case 6: return 0;
    case 7: return below(8);
    default: return below(2) ? 0xFFFFFFFFu : below(70000);
    }
}

#define MUTATE(field, what) do { long before_ = (long)(field); field = (__typeof__(field))perturb((uint32_t)(field)); \
                                  note(what, before_, (long)(field)); } while (0)

static void mutate_layer(void)
{
    char what[64];
    int i = (int)below(L);
    explore_layer_t *l = &layers[i];
    int d = (int)below(3), d2 = (int)below(2);
    switch (below(16)) {
    case 0: snprintf(what, sizeof what, "layers[%d].kind", i); MUTATE(l->kind, what); break;
    case 1: snprintf(what, sizeof what, "layers[%d].activation", i); MUTATE(l->activation, what); break;
    case 2: snprintf(what, sizeof what, "layers[%d].is_float", i); l->is_float ^= 1; note(what, !l->is_float, l->is_float); break;
    case 3: snprintf(what, sizeof what, "layers[%d].trainable", i); l->trainable ^= 1; note(what, !l->trainable, l->trainable); break;
    case 4: snprintf(what, sizeof what, "layers[%d].depthwise", i); l->depthwise ^= 1; note(what, !l->depthwise, l->depthwise); break;
    case 5: snprintf(what, sizeof what, "layers[%d].padding", i); MUTATE(l->padding, what); break;
    case 6: snprintf(what, sizeof what, "layers[%d].in_rank", i); MUTATE(l->in_rank, what); break;
    case 7: snprintf(what, sizeof what, "layers[%d].out_rank", i); MUTATE(l->out_rank, what); break;
    case 8: snprintf(what, sizeof what, "layers[%d].in_shape[%d]", i, d); MUTATE(l->in_shape[d], what); break;
    case 9: snprintf(what, sizeof what, "layers[%d].out_shape[%d]", i, d); MUTATE(l->out_shape[d], what); break;
    case 10: snprintf(what, sizeof what, "layers[%d].kernel[%d]", i, d2); MUTATE(l->kernel[d2], what); break;
    case 11: snprintf(what, sizeof what, "layers[%d].strides[%d]", i, d2); MUTATE(l->strides[d2], what); break;
    case 12: snprintf(what, sizeof what, "layers[%d].window[%d]", i, d2); MUTATE(l->window[d2], what); break;
    case 13: snprintf(what, sizeof what, "layers[%d].weight_count", i); MUTATE(l->weight_count, what); break;
    case 14: snprintf(what, sizeof what, "layers[%d].channels", i); MUTATE(l->channels, what); break;
    default: {
        long before = l->skip;
        l->skip = (int16_t)((int)below(L + 3) - 2);
        snprintf(what, sizeof what, "layers[%d].skip", i);
        note(what, before, l->skip);
    }
    }
}

static void null_pointer(void)
{
    char what[64];
    int i = (int)below(L), k = (int)below(T);
    switch (below(20)) {
    case 0: layers[i].w_q = 0; snprintf(what, sizeof what, "layers[%d].w_q = NULL", i); break;
    case 1: layers[i].b_q = 0; snprintf(what, sizeof what, "layers[%d].b_q = NULL", i); break;
    case 2: layers[i].b_f = 0; snprintf(what, sizeof what, "layers[%d].b_f = NULL", i); break;
    case 3: layers[i].qparams = 0; snprintf(what, sizeof what, "layers[%d].qparams = NULL", i); break;
    case 4: layers[i].w_f = 0; snprintf(what, sizeof what, "layers[%d].w_f = NULL", i); break;
    case 5: layers[i].bias_f = 0; snprintf(what, sizeof what, "layers[%d].bias_f = NULL", i); break;
    case 6: layers[i].add = 0; snprintf(what, sizeof what, "layers[%d].add = NULL", i); break;
    case 7: trainable[k].w_q = 0; snprintf(what, sizeof what, "trainable[%d].w_q = NULL", k); break;
    case 8: trainable[k].b_f = 0; snprintf(what, sizeof what, "trainable[%d].b_f = NULL", k); break;
    case 9: trainable[k].qparams = 0; snprintf(what, sizeof what, "trainable[%d].qparams = NULL", k); break;
    case 10: trainable[k].w_f = 0; snprintf(what, sizeof what, "trainable[%d].w_f = NULL", k); break;
    case 11: model.layers = 0; snprintf(what, sizeof what, "model.layers = NULL"); break;
    case 12: model.input_quant = 0; snprintf(what, sizeof what, "model.input_quant = NULL"); break;
    case 13: model.act_quant = 0; snprintf(what, sizeof what, "model.act_quant = NULL"); break;
    case 14: model.trainable = 0; snprintf(what, sizeof what, "model.trainable = NULL"); break;
    case 15: model.training = 0; snprintf(what, sizeof what, "model.training = NULL"); break;
    case 16: model.training_buffers = 0; snprintf(what, sizeof what, "model.training_buffers = NULL"); break;
    case 17: model.inference_buffers = 0; snprintf(what, sizeof what, "model.inference_buffers = NULL"); break;
    case 18: training.trainable_layers = 0; snprintf(what, sizeof what, "training.trainable_layers = NULL"); break;
    default: model.format = 0; snprintf(what, sizeof what, "model.format = NULL"); break;
    }
    note(what, 0, 0);
}

static void mutate_buffer(void)
{
    char what[64];
    int inference = (int)below(2);
    int k = (int)below(inference ? NIB : NTB);
    explore_buffer_t *b = inference ? &inference_buffers[k] : &training_buffers[k];
    char *name = inference ? inference_names[k] : training_names[k];
    const char *plan = inference ? "inference" : "training";
    switch (below(5)) {
    case 0: snprintf(what, sizeof what, "%s_buffers[%d].offset", plan, k); MUTATE(b->offset, what); break;
    case 1: snprintf(what, sizeof what, "%s_buffers[%d].size", plan, k); MUTATE(b->size, what); break;
    case 2: {
        size_t n = strlen(name);
        size_t at = below((uint32_t)n + 1);
        long before = at < n ? name[at] : 0;
        name[at] = (char)(below(3) == 0 ? 0 : ' ' + below(90));
        snprintf(what, sizeof what, "%s_buffers[%d].name[%d] (%s)", plan, k, (int)at, name);
        note(what, before, name[at]);
        break;
    }
    case 3: b->name = 0; snprintf(what, sizeof what, "%s_buffers[%d].name = NULL", plan, k); note(what, 0, 0); break;
    default: {   /* two buffers swap names */
        int j = (int)below(inference ? NIB : NTB);
        explore_buffer_t *c = inference ? &inference_buffers[j] : &training_buffers[j];
        const char *t = b->name;
        b->name = c->name;
        c->name = t;
        snprintf(what, sizeof what, "%s_buffers[%d] and [%d] swap names", plan, k, j);
        note(what, k, j);
    }
    }
}

static void mutate_model(void)
{
    char what[64];
    int d = (int)below(3), k = (int)below(T);
    switch (below(17)) {
    case 0: MUTATE(model.num_layers, "model.num_layers"); break;
    case 1: MUTATE(model.num_classes, "model.num_classes"); break;
    case 2: MUTATE(model.input_rank, "model.input_rank"); break;
    case 3: snprintf(what, sizeof what, "model.input_shape[%d]", d); MUTATE(model.input_shape[d], what); break;
    case 4: MUTATE(model.num_trainable, "model.num_trainable"); break;
    case 5: { long b = model.num_training_buffers; model.num_training_buffers = (uint16_t)below(NTB + 1);
              note("model.num_training_buffers", b, model.num_training_buffers); break; }
    case 6: { long b = model.num_inference_buffers; model.num_inference_buffers = (uint16_t)below(NIB + 1);
              note("model.num_inference_buffers", b, model.num_inference_buffers); break; }
    case 7: MUTATE(model.training_arena_bytes, "model.training_arena_bytes"); break;
    case 8: MUTATE(model.inference_arena_bytes, "model.inference_arena_bytes"); break;
    case 9: MUTATE(training.config, "training.config"); break;
    case 10: MUTATE(training.num_trainable, "training.num_trainable"); break;
    case 11: MUTATE(training.batch_size, "training.batch_size"); break;
    case 12: { float lm[5] = {0.0f, 0.5f, 1.0f, -0.1f, 2.0f}; long b = (long)(training.lambda_min * 100);
               if (below(2)) { training.lambda_min = lm[below(5)]; } else { training.lambda_max = lm[below(5)]; }
               note("training.lambda_min/max (x100)", b, (long)(training.lambda_min * 100)); break; }
    case 13: snprintf(what, sizeof what, "training.trainable_layers[%d]", k); MUTATE(trainable_layers[k], what); break;
    case 14: snprintf(what, sizeof what, "trainable[%d].layer", k); MUTATE(trainable[k].layer, what); break;
    case 15: snprintf(what, sizeof what, "trainable[%d].weight_count", k); MUTATE(trainable[k].weight_count, what);
             break;
    default: snprintf(what, sizeof what, "trainable[%d].channels", k); MUTATE(trainable[k].channels, what); break;
    }
}

static void mutate_misc(void)
{
    char what[64];
    int t = (int)below(L + 1) - 1;
    explore_tensor_quant_t *q = t < 0 ? &input_quant : &act_quant[t];
    switch (below(4)) {
    case 0: {
        size_t n = strlen(format);
        size_t at = below((uint32_t)n + 1);
        long before = at < n ? format[at] : 0;
        format[at] = (char)(below(3) == 0 ? 0 : ' ' + below(90));
        note("format char", before, format[at]);
        break;
    }
    case 1: snprintf(what, sizeof what, "quant[%d].zero", t); MUTATE(q->zero, what); break;
    case 2: {
        /* 1e-30 and 1e29 are accepted by explore_init but make explore_bias_q saturate, and the
           forward pass then overflows int32 (see README.md); only with --extreme-scales. */
        float s[6] = {0.0f, -1.0f, 1e31f, 1e-3f, 1e-30f, 1e29f};
        long b = (long)(q->scale * 1e6f);
        q->scale = s[below(extreme_scales ? 6 : 4)];
        snprintf(what, sizeof what, "quant[%d].scale (x1e6)", t);
        note(what, b, (long)(q->scale * 1e6f));
        break;
    }
    default: mutate_layer(); break;
    }
}

/* Whether the training plan's buffers were moved or renamed (see the top of the file). */
static int training_plan_moved(void)
{
    if (model.training_buffers != training_buffers || model.num_training_buffers != NTB) {
        return 0;
    }
    for (int k = 0; k < NTB; k++) {
        const char *a = training_buffers[k].name, *b = explore_training_buffers[k].name;
        if (!a || strcmp(a, b) != 0 || training_buffers[k].offset != explore_training_buffers[k].offset) {
            return 1;
        }
    }
    return 0;
}

/* --- running an accepted description ------------------------------------------------------- */

static uint32_t input_elements(const explore_model_t *m)
{
    uint32_t n = 1;
    for (uint8_t k = 0; k < m->input_rank && k < 3; k++) {
        n *= m->input_shape[k];
    }
    return n;
}

static void exercise(explore_ctx_t *ctx, const explore_model_t *m)
{
    uint32_t n = input_elements(m);
    float *input = malloc((size_t)n * sizeof(float));
    float *logits = malloc((size_t)m->num_classes * sizeof(float));
    float *kept = malloc((size_t)m->num_trainable * sizeof(float) + 1);
    for (int round = 0; round < 3; round++) {
        for (uint32_t k = 0; k < n; k++) {
            input[k] = ((float)below(2001) - 1000.0f) / 250.0f;
        }
        if (explore_infer(ctx, input, logits) != EXPLORE_OK) {
            printf("explore_infer refused an initialised context (iteration %lu)\n", iteration);
        }
        float loss;
        int32_t label = (int32_t)below(m->num_classes);
        if (explore_train_sample(ctx, input, label, &loss, kept) != EXPLORE_OK) {
            printf("explore_train_sample refused (iteration %lu)\n", iteration);
        }
    }
    if (explore_update(ctx) != EXPLORE_OK) {
        printf("explore_update refused (iteration %lu)\n", iteration);
    }
    if (explore_infer(ctx, input, logits) != EXPLORE_OK) {
        printf("explore_infer refused after the update (iteration %lu)\n", iteration);
    }
    free(input), free(logits), free(kept);
}

/* --- targeted cases ----------------------------------------------------------------------- */

static uint8_t *arena;
static float *state;
static uint32_t state_bytes;
static int targeted_failures;

static void expect(const char *name, explore_status_t got, explore_status_t want)
{
    int ok = got == want;
    printf("targeted %s: got %ld (%s) want %ld (%s) %s\n", name, (long)got, explore_status_name(got), (long)want,
           explore_status_name(want), ok ? "ok" : "FAIL");
    targeted_failures += !ok;
}

static explore_buffer_t *training_buffer(const char *name)
{
    for (int k = 0; k < NTB; k++) {
        if (strcmp(training_buffers[k].name, name) == 0) {
            return &training_buffers[k];
        }
    }
    return 0;
}

static void targeted(void)
{
    explore_ctx_t ctx;
    fresh_copy();
    explore_status_t s = explore_init(&ctx, &model, arena, ARENA, state, state_bytes);
    expect("original bundle", s, EXPLORE_OK);
    if (s == EXPLORE_OK) {
        exercise(&ctx, &model);
    }
    release_copy();

    fresh_copy();
    snprintf(format, NAME_LEN, "explore.bundle/2");
    expect("wrong format string", explore_init(&ctx, &model, arena, ARENA, state, state_bytes), EXPLORE_E_FORMAT);
    release_copy();

    fresh_copy();
    expect("arena one byte smaller", explore_init(&ctx, &model, arena, ARENA - 1, state, state_bytes),
           EXPLORE_E_ARENA);
    expect("arena one byte smaller than EXPLORE_ARENA_BYTES",
           explore_init(&ctx, &model, arena, EXPLORE_ARENA_BYTES - 1, state, state_bytes), EXPLORE_E_ARENA);
    release_copy();

    for (int i = 0; i < L; i++) {
        if (layers[i].kind == EXPLORE_CONV || layers[i].kind == EXPLORE_DENSE) {
            fresh_copy();
            layers[i].weight_count += 1;
            char name[64];
            snprintf(name, sizeof name, "layers[%d].weight_count + 1", i);
            expect(name, explore_init(&ctx, &model, arena, ARENA, state, state_bytes), EXPLORE_E_SHAPE);
            release_copy();
            fresh_copy();
            layers[i].weight_count -= 1;
            snprintf(name, sizeof name, "layers[%d].weight_count - 1", i);
            expect(name, explore_init(&ctx, &model, arena, ARENA, state, state_bytes), EXPLORE_E_SHAPE);
            release_copy();
        }
    }

    /* the input buffer: elements of the input, as float32 only in the float32 configuration */
    uint32_t need = input_elements(&original) * (explore_training.config == EXPLORE_CONFIG_FLOAT32 ? 4u : 1u);
    fresh_copy();
    training_buffer("input")->size = need - 1;
    expect("training input buffer one byte too small", explore_init(&ctx, &model, arena, ARENA, state, state_bytes),
           EXPLORE_E_PLAN);
    release_copy();
    fresh_copy();
    training_buffer("dlogits")->size = 4u * EXPLORE_NUM_CLASSES - 1;
    expect("dlogits buffer one byte too small", explore_init(&ctx, &model, arena, ARENA, state, state_bytes),
           EXPLORE_E_PLAN);
    release_copy();
    fresh_copy();
    training_buffer("input")->offset = (EXPLORE_ARENA_BYTES + 4u) & ~3u;
    expect("training input buffer beyond the arena", explore_init(&ctx, &model, arena, ARENA, state, state_bytes),
           EXPLORE_E_PLAN);
    release_copy();
    fresh_copy();
    {
        explore_buffer_t *b = training_buffer("dlogits");
        b->offset = (EXPLORE_ARENA_BYTES - b->size + 4u) & ~3u;
        expect("dlogits buffer ending past the arena", explore_init(&ctx, &model, arena, ARENA, state, state_bytes),
               EXPLORE_E_PLAN);
    }
    release_copy();

    fresh_copy();
    expect("state one byte too small", explore_init(&ctx, &model, arena, ARENA, state, state_bytes - 1),
           EXPLORE_E_STATE);
    expect("state one float too small", explore_init(&ctx, &model, arena, ARENA, state, state_bytes - 4),
           EXPLORE_E_STATE);
    expect("state NULL", explore_init(&ctx, &model, arena, ARENA, 0, state_bytes), EXPLORE_E_STATE);
    expect("misaligned arena", explore_init(&ctx, &model, arena + 1, ARENA - 1, state, state_bytes),
           EXPLORE_E_ARGUMENT);
    expect("NULL model", explore_init(&ctx, 0, arena, ARENA, state, state_bytes), EXPLORE_E_ARGUMENT);
    release_copy();
}

int main(int argc, char **argv)
{
    unsigned long iterations = 20000;
    int verbose = 0, positional = 0;
    for (int k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--verbose") == 0) {
            verbose = 1;
        } else if (strcmp(argv[k], "--extreme-scales") == 0) {
            extreme_scales = 1;
        } else if (strcmp(argv[k], "--exercise-moved") == 0) {
            exercise_moved = 1;
        } else if (positional++ == 0) {
            iterations = strtoul(argv[k], 0, 10);
        } else {
            rng_state = (uint32_t)strtoul(argv[k], 0, 10) * 2654435761u | 1u;
        }
    }
#ifdef HAVE_DEATH_CALLBACK
    __sanitizer_set_death_callback(on_death);
#endif
    uint32_t floats = explore_state_floats(&original);
    state_bytes = floats * (uint32_t)sizeof(float);
    arena = malloc(ARENA);
    state = malloc(state_bytes);
    printf("bundle: %d layers, %d trainable, arena %u bytes (training %u, inference %u), state %u floats\n", L, T,
           (unsigned)ARENA, (unsigned)EXPLORE_ARENA_BYTES, (unsigned)EXPLORE_INFERENCE_ARENA_BYTES,
           (unsigned)floats);
    targeted();

    unsigned long refused[16] = {0}, accepted = 0, moved = 0;
    for (iteration = 0; iteration < iterations; iteration++) {
        fresh_copy();
        log_text[0] = '\0';
        uint32_t count = 1 + below(3);
        for (uint32_t m = 0; m < count; m++) {
            switch (below(6)) {
            case 0: case 1: mutate_layer(); break;
            case 2: mutate_buffer(); break;
            case 3: mutate_model(); break;
            case 4: null_pointer(); break;
            default: mutate_misc(); break;
            }
        }
        if (verbose) {
            printf("iteration %lu: %s\n", iteration, log_text);
            fflush(stdout);
        }
        explore_ctx_t ctx;
        explore_status_t s = explore_init(&ctx, &model, arena, ARENA, state, state_bytes);
        if (s == EXPLORE_OK && training_plan_moved() && !exercise_moved) {
            moved++;
        } else if (s == EXPLORE_OK) {
            accepted++;
            exercise(&ctx, &model);
        } else {
            refused[(-s) & 15]++;
        }
        release_copy();
    }
    printf("fuzz: %lu iterations, %lu accepted, %lu refused\n", iterations, accepted + moved,
           iterations - accepted - moved);
    printf("accepted and exercised: %lu\n", accepted);
    printf("accepted with a moved or renamed training buffer (not exercised): %lu\n", moved);
    for (int k = 1; k < 16; k++) {
        if (refused[k]) {
            printf("refused %d (%s): %lu\n", -k, explore_status_name(-k), refused[k]);
        }
    }
    free(arena);
    free(state);
    if (targeted_failures) {
        printf("%d targeted case(s) FAILED\n", targeted_failures);
        return 1;
    }
    return 0;
}
