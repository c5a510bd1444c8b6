"""Build of the optional compiled modules; everything else is configured in pyproject.toml.

``civicpulse.nlp._qgemm`` (int8 matrix products on Intel AMX and AVX-512 VNNI; the float32 encoder's bias +
GELU step in AVX2) speeds up the e5 encoder. It is
optional: where it cannot be compiled (no C compiler, another CPU architecture) the install goes
on without it, and the encoder computes the same products with numpy.

``civicpulse.nlp._hashgrams`` (hashed n-gram indices) speeds up the fast classifiers' features; without
it, scikit-learn's ``HashingVectorizer`` computes the same features.

``civicpulse.nlp._e5tok`` (the e5 tokenizer's Viterbi search) gives the same token ids as the Python search,
about ten times faster; without it, the Python search runs.

``civicpulse.nlp._newmm`` (PyThaiNLP's newmm word segmentation on runs of Thai letters) gives the same words
as PyThaiNLP; without it, PyThaiNLP segments them.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("civicpulse.nlp._qgemm", ["src/civicpulse/nlp/_qgemm.c"], optional=True, extra_compile_args=["-O3"]),
        Extension(
            "civicpulse.nlp._hashgrams", ["src/civicpulse/nlp/_hashgrams.c"], optional=True, extra_compile_args=["-O3"]
        ),
        Extension("civicpulse.nlp._e5tok", ["src/civicpulse/nlp/_e5tok.c"], optional=True, extra_compile_args=["-O3"]),
        Extension("civicpulse.nlp._newmm", ["src/civicpulse/nlp/_newmm.c"], optional=True, extra_compile_args=["-O3"]),
    ]
)
