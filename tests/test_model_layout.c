/* Parameter layout: counts and the Hugging Face tensor table agree with a hand count for a
 * small config, tensors tile the flat buffer without gaps or overlaps, and tied heads alias. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "testutil.h"

static ModelConfig small_config(bool bias, bool tied)
{
    ModelConfig c;
    config_defaults(&c);
    c.dim = 8;
    c.hidden_dim = 12;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 2;
    c.vocab_size = 10;
    c.qkv_bias = bias;
    c.tied_embeddings = tied;
    return c;
}

static void test_counts_by_hand(void **state)
{
    (void)state;
    /* embed 10*8=80; per layer: norms 2*8, q 8*8, k 4*8, v 4*8, o 8*8, mlp 3*12*8 = 16+64+32+32
     * +64+288 = 496; two layers 992; final norm 8; head 80. Biases add (8+4+4)*2 = 32. */
    ModelConfig c = small_config(false, false);
    assert_int_equal(model_param_count(&c), 80 + 992 + 8 + 80);
    c = small_config(true, true);
    assert_int_equal(model_param_count(&c), 80 + 992 + 32 + 8);
}

static void test_tensors_tile_buffer(void **state)
{
    (void)state;
    for (int variant = 0; variant < 4; variant++) {
        ModelConfig c = small_config(variant & 1, variant & 2);
        size_t n = model_param_count(&c);
        TensorRef *list = NULL;
        int count = model_tensor_list(&c, &list);
        unsigned char *seen = calloc(n, 1);
        size_t covered = 0;
        for (int i = 0; i < count; i++) {
            assert_true(list[i].offset + list[i].count <= n);
            for (size_t j = 0; j < list[i].count; j++) {
                assert_int_equal(seen[list[i].offset + j], 0);
                seen[list[i].offset + j] = 1;
            }
            covered += list[i].count;
        }
        assert_int_equal(covered, n);
        free(seen);
        free(list);
    }
}

static void test_tied_head_aliases_embedding(void **state)
{
    (void)state;
    ModelConfig c = small_config(false, true);
    Model m;
    assert_int_equal(model_init(&m, &c), 0);
    assert_ptr_equal(m.params.lm_head, m.params.tok_embedding);
    assert_null(m.params.bq);
    model_free(&m);
}

static void test_names_follow_hugging_face(void **state)
{
    (void)state;
    ModelConfig c = small_config(true, false);
    TensorRef *list = NULL;
    int count = model_tensor_list(&c, &list);
    assert_string_equal(list[0].name, "model.embed_tokens.weight");
    assert_string_equal(list[2].name, "model.layers.0.self_attn.q_proj.weight");
    assert_int_equal(list[2].shape[0], 8);
    assert_int_equal(list[2].shape[1], 8);
    assert_string_equal(list[5].name, "model.layers.0.self_attn.q_proj.bias");
    assert_string_equal(list[count - 1].name, "lm_head.weight");
    free(list);
}

static void test_invalid_config_refused(void **state)
{
    (void)state;
    ModelConfig c = small_config(false, false);
    c.n_kv_heads = 3;
    Model m;
    assert_int_equal(model_init(&m, &c), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_by_hand),
        cmocka_unit_test(test_tensors_tile_buffer),
        cmocka_unit_test(test_tied_head_aliases_embedding),
        cmocka_unit_test(test_names_follow_hugging_face),
        cmocka_unit_test(test_invalid_config_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
