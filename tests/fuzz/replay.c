/* Replays a libFuzzer target without libFuzzer, for compilers that lack it
 * (gcc): runs LLVMFuzzerTestOneInput over every file of a corpus directory,
 * then over N mutations of them drawn from a fixed seed, so that the run is
 * the same every time and a failure reproduces.
 *
 *   replay CORPUS_DIR [N [SEED]]
 *
 * Mutations are the byte-level ones that matter for a text protocol: bit
 * flips, bytes replaced by protocol punctuation, insertions, deletions, and
 * splices of another corpus file. Each input is passed in a heap block of
 * exactly its size, so ASan reports any read past its end. Exit status 0
 * when every input returned; a crash or sanitizer report ends the process.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Longest mutated input; seeds are small. */
#define REPLAY_MAX_INPUT 4096

/* One corpus file, read whole. */
typedef struct seed {
    char *name;    /* file name, for messages */
    uint8_t *data; /* contents */
    size_t size;   /* bytes in data */
} seed;

/* xorshift64*: fast, deterministic, good enough to pick mutations. */
static uint64_t rng_state;

static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static size_t below(size_t n) {
    return n ? (size_t)(rng() % n) : 0;
}

static int cmp_seed(const void *a, const void *b) {
    return strcmp(((const seed *)a)->name, ((const seed *)b)->name);
}

static void run(const uint8_t *data, size_t size) {
    /* Exact-size copy: the fuzzer's own guarantee, kept here. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) {
        perror("malloc");
        exit(2);
    }
    memcpy(copy, data, size);
    LLVMFuzzerTestOneInput(copy, size);
    free(copy);
}

static size_t mutate(uint8_t *buf, size_t size, const seed *seeds, size_t nseeds) {
    static const char punct[] = "\r\n :;,\t0123456789abcdefABCDEF%./\\?#\"=-";
    int steps = 1 + (int)below(4);
    for (int s = 0; s < steps; s++) {
        switch (below(6)) {
        case 0: /* flip a bit */
            if (size)
                buf[below(size)] ^= (uint8_t)(1u << below(8));
            break;
        case 1: /* replace a byte with punctuation or an edge value */
            if (size) {
                size_t i = below(size);
                uint64_t r = rng();
                buf[i] = (r & 3) == 0 ? (uint8_t)(r >> 8) : (uint8_t)punct[below(sizeof punct - 1)];
            }
            break;
        case 2: /* insert a byte */
            if (size < REPLAY_MAX_INPUT) {
                size_t i = below(size + 1);
                memmove(buf + i + 1, buf + i, size - i);
                buf[i] = (uint8_t)punct[below(sizeof punct - 1)];
                size++;
            }
            break;
        case 3: /* delete a range */
            if (size) {
                size_t i = below(size), n = 1 + below(size - i < 8 ? size - i : 8);
                memmove(buf + i, buf + i + n, size - i - n);
                size -= n;
            }
            break;
        case 4: /* duplicate a range in place (pipelining, repeated fields) */
            if (size) {
                size_t i = below(size), n = 1 + below(size - i);
                if (size + n <= REPLAY_MAX_INPUT) {
                    size_t at = below(size + 1);
                    uint8_t tmp[REPLAY_MAX_INPUT];
                    memcpy(tmp, buf + i, n);
                    memmove(buf + at + n, buf + at, size - at);
                    memcpy(buf + at, tmp, n);
                    size += n;
                }
            }
            break;
        default: { /* splice: our prefix, another seed's suffix */
            const seed *o = &seeds[below(nseeds)];
            size_t cut = below(size + 1), from = below(o->size + 1);
            size_t n = o->size - from;
            if (cut + n > REPLAY_MAX_INPUT)
                n = REPLAY_MAX_INPUT - cut;
            memcpy(buf + cut, o->data + from, n);
            size = cut + n;
            break;
        }
        }
    }
    return size;
}

static int load(const char *dir, seed **out, size_t *count) {
    DIR *d = opendir(dir);
    if (!d) {
        perror(dir);
        return -1;
    }
    seed *seeds = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        uint8_t *data = malloc(REPLAY_MAX_INPUT);
        size_t size = data ? fread(data, 1, REPLAY_MAX_INPUT, f) : 0;
        fclose(f);
        if (!data)
            return -1;
        if (n == cap) {
            cap = cap ? 2 * cap : 32;
            seed *grown = realloc(seeds, cap * sizeof *seeds);
            if (!grown)
                return -1;
            seeds = grown;
        }
        seeds[n].name = strdup(e->d_name);
        seeds[n].data = data;
        seeds[n].size = size;
        n++;
    }
    closedir(d);
    /* readdir order depends on the file system; sort for reproducibility. */
    if (n)
        qsort(seeds, n, sizeof *seeds, cmp_seed);
    *out = seeds;
    *count = n;
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [N [SEED]]\n", argv[0]);
        return 2;
    }
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 10000;
    rng_state = argc > 3 ? strtoull(argv[3], NULL, 10) : 0x9e3779b97f4a7c15ull;
    if (rng_state == 0)
        rng_state = 1;

    seed *seeds;
    size_t nseeds;
    if (load(argv[1], &seeds, &nseeds) < 0)
        return 2;
    if (nseeds == 0) {
        fprintf(stderr, "%s: empty corpus\n", argv[1]);
        return 2;
    }
    for (size_t i = 0; i < nseeds; i++)
        run(seeds[i].data, seeds[i].size);

    uint8_t buf[REPLAY_MAX_INPUT];
    for (long i = 0; i < n; i++) {
        const seed *s = &seeds[below(nseeds)];
        memcpy(buf, s->data, s->size);
        size_t size = mutate(buf, s->size, seeds, nseeds);
        run(buf, size);
    }
    printf("replay: %zu corpus files, %ld mutations: ok\n", nseeds, n);

    for (size_t i = 0; i < nseeds; i++) {
        free(seeds[i].name);
        free(seeds[i].data);
    }
    free(seeds);
    return 0;
}
