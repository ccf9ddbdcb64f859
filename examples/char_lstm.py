"""A character-level LSTM language model written with ``symgraph.scan``, trained by BPTT.

The model reads a short public-domain text one character at a time: each character index
picks a row of an embedding matrix (integer indexing), an LSTM cell written out with
``T.dot``, ``T.nnet.sigmoid`` and ``T.tanh`` runs over the sequence inside ``symgraph.scan``,
and a softmax over the vocabulary predicts the next character. The cost is the mean
``T.nnet.categorical_crossentropy`` against integer targets; ``symgraph.grad`` differentiates
it through the scan (backpropagation through time) and Adam steps on ``symgraph.shared``
parameters as ``updates``, with the gradient norm clipped. Training uses minibatches of
random subsequences of the text; a short greedy and a sampled generation are printed at the end.

    python examples/char_lstm.py               # 600 steps, about 0.2 nats per char
    python examples/char_lstm.py --quick       # 150 steps, a few seconds once compiled
    python examples/char_lstm.py --steps 50 --seed 7 --lr 0.01
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import symgraph
import symgraph.tensor as T

# The opening paragraph of Lewis Carroll's "Alice's Adventures in Wonderland" (1865),
# in the public domain.
TEXT = (
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of "
    "having nothing to do: once or twice she had peeped into the book her sister was "
    "reading, but it had no pictures or conversations in it, 'and what is the use of a "
    "book,' thought Alice 'without pictures or conversations?' So she was considering in "
    "her own mind (as well as she could, for the hot day made her feel very sleepy and "
    "stupid), whether the pleasure of making a daisy-chain would be worth the trouble of "
    "getting up and picking the daisies, when suddenly a White Rabbit with pink eyes ran "
    "close by her. There was nothing so very remarkable in that; nor did Alice think it so "
    "very much out of the way to hear the Rabbit say to itself, 'Oh dear! Oh dear! I shall "
    "be late!' (when she thought it over afterwards, it occurred to her that she ought to "
    "have wondered at this, but at the time it all seemed quite natural); but when the "
    "Rabbit actually took a watch out of its waistcoat-pocket, and looked at it, and then "
    "hurried on, Alice started to her feet, for it flashed across her mind that she had "
    "never before seen a rabbit with either a waistcoat-pocket, or a watch to take out of "
    "it, and burning with curiosity, she ran across the field after it, and fortunately "
    "was just in time to see it pop down a large rabbit-hole under the hedge."
)


def encode(text):
    """The sorted vocabulary of ``text`` and the text as an int64 vector of indices."""
    vocab = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocab)}
    return vocab, np.array([index[ch] for ch in text], dtype=np.int64)


def init_params(rng, n_vocab, n_embed, n_hidden):
    """Embedding, fused LSTM gate weights (input, forget, output, candidate) and softmax layer."""
    dtype = symgraph.config.floatX

    def uniform(n_in, shape):
        bound = 1.0 / np.sqrt(n_in)
        return rng.uniform(-bound, bound, size=shape).astype(dtype)

    bias = np.zeros(4 * n_hidden, dtype=dtype)
    bias[n_hidden:2 * n_hidden] = 1.0  # forget gate open at the start
    values = {
        "E": (rng.standard_normal((n_vocab, n_embed)) * 0.1).astype(dtype),
        "W_x": uniform(n_embed, (n_embed, 4 * n_hidden)),
        "W_h": uniform(n_hidden, (n_hidden, 4 * n_hidden)),
        "b": bias,
        "W_y": uniform(n_hidden, (n_hidden, n_vocab)),
        "b_y": np.zeros(n_vocab, dtype=dtype),
    }
    return {name: symgraph.shared(v, name=name) for name, v in values.items()}


def lstm_step(x_t, h_prev, c_prev, W_h, n_hidden):
    """One LSTM step: ``x_t`` is the input projection ``emb_t . W_x + b`` for this step."""
    z = x_t + T.dot(h_prev, W_h)
    i = T.nnet.sigmoid(z[:, :n_hidden])
    f = T.nnet.sigmoid(z[:, n_hidden:2 * n_hidden])
    o = T.nnet.sigmoid(z[:, 2 * n_hidden:3 * n_hidden])
    g = T.tanh(z[:, 3 * n_hidden:])
    c = f * c_prev + i * g
    h = o * T.tanh(c)
    return h, c


def adam(params, grads, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """Adam updates for ``params`` as a list of (shared, new value) pairs."""
    dtype = symgraph.config.floatX
    t = symgraph.shared(np.asarray(0.0, dtype=dtype), name="adam_t")
    t_new = t + 1
    step = lr * T.sqrt(1 - beta2 ** t_new) / (1 - beta1 ** t_new)
    updates = [(t, t_new)]
    for p, g in zip(params, grads):
        value = p.get_value()
        m = symgraph.shared(np.zeros_like(value), name=f"m_{p.name}")
        v = symgraph.shared(np.zeros_like(value), name=f"v_{p.name}")
        m_new = beta1 * m + (1 - beta1) * g
        v_new = beta2 * v + (1 - beta2) * g ** 2
        updates += [(m, m_new), (v, v_new), (p, p - step * m_new / (T.sqrt(v_new) + eps))]
    return updates


def build(params, n_vocab, n_hidden, clip_norm=5.0):
    """Compile the training step (BPTT through scan, clipped Adam), the loss alone, one step."""
    E, W_x, W_h, b, W_y, b_y = (params[k] for k in ("E", "W_x", "W_h", "b", "W_y", "b_y"))
    x = T.lmatrix("x")  # (time, batch) character indices
    y = T.lmatrix("y")  # (time, batch) next-character indices
    lr = T.scalar("lr")
    batch = x.shape[1]

    emb = E[x]  # (time, batch, embed): an embedding lookup by integer indexing
    x_proj = T.dot(emb, W_x) + b  # the input half of every gate, for all steps at once
    h0 = T.zeros((batch, n_hidden), dtype=symgraph.config.floatX)
    c0 = T.zeros((batch, n_hidden), dtype=symgraph.config.floatX)
    (h_seq, _), _ = symgraph.scan(
        lambda x_t, h, c, W: lstm_step(x_t, h, c, W, n_hidden),
        sequences=[x_proj], outputs_info=[h0, c0], non_sequences=[W_h], name="lstm")

    logits = T.dot(h_seq.reshape((-1, n_hidden)), W_y) + b_y
    probs = T.nnet.softmax(logits)
    cost = T.mean(T.nnet.categorical_crossentropy(probs, y.flatten()))  # nats per character

    order = [E, W_x, W_h, b, W_y, b_y]
    grads = symgraph.grad(cost, order)
    norm = T.sqrt(sum(T.sum(g ** 2) for g in grads))
    scale = T.minimum(1.0, clip_norm / (norm + 1e-6))
    updates = adam(order, [g * scale for g in grads], lr)
    train = symgraph.function([x, y, lr], [cost, norm], updates=updates, name="train",
                              allow_input_downcast=True)

    evaluate = symgraph.function([x, y], cost, name="evaluate")

    # Generation: one character at a time, the state carried in numpy.
    ch = T.lvector("ch")
    h_in = T.matrix("h")
    c_in = T.matrix("c")
    h1, c1 = lstm_step(T.dot(E[ch], W_x) + b, h_in, c_in, W_h, n_hidden)
    p1 = T.nnet.softmax(T.dot(h1, W_y) + b_y)
    step = symgraph.function([ch, h_in, c_in], [p1, h1, c1], name="step")
    return train, evaluate, step


def generate(step, vocab, prime, n_chars, n_hidden, rng=None):
    """Feed ``prime`` then continue for ``n_chars`` (greedy, or sampled when ``rng`` given)."""
    index = {c: i for i, c in enumerate(vocab)}
    dtype = symgraph.config.floatX
    h = np.zeros((1, n_hidden), dtype=dtype)
    c = np.zeros((1, n_hidden), dtype=dtype)
    out = list(prime)
    p = None
    for ch in prime:
        p, h, c = step(np.array([index[ch]], dtype=np.int64), h, c)
    for _ in range(n_chars):
        probs = np.asarray(p[0], dtype=np.float64)
        if rng is None:
            k = int(np.argmax(probs))
        else:
            k = int(rng.choice(len(vocab), p=probs / probs.sum()))
        out.append(vocab[k])
        p, h, c = step(np.array([k], dtype=np.int64), h, c)
    return "".join(out)


def batches(data, seq_len, batch_size, rng):
    """A (seq_len, batch) minibatch of random subsequences and their next characters."""
    starts = rng.integers(0, len(data) - seq_len - 1, size=batch_size)
    idx = starts[None, :] + np.arange(seq_len)[:, None]
    return data[idx], data[idx + 1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 600)")
    parser.add_argument("--quick", action="store_true", help="a short run that still learns")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--lr", type=float, default=None, help="Adam step size")
    parser.add_argument("--hidden", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    if args.quick:
        steps, lr, n_hidden, seq_len = 150, 0.02, 64, 16
    else:
        steps, lr, n_hidden, seq_len = 600, 0.01, 128, 32
    steps = args.steps if args.steps is not None else steps
    lr = args.lr if args.lr is not None else lr
    n_hidden = args.hidden or n_hidden
    seq_len = args.seq_len or seq_len
    report_every = max(1, steps // 10)

    rng = np.random.default_rng(args.seed)
    vocab, data = encode(TEXT)
    n_vocab = len(vocab)
    uniform = math.log(n_vocab)
    print(f"text: {len(data)} characters, vocabulary of {n_vocab} "
          f"(uniform baseline {uniform:.3f} nats = {uniform / math.log(2):.3f} bits per char)")

    t0 = time.perf_counter()
    params = init_params(rng, n_vocab, n_embed=16, n_hidden=n_hidden)
    train, evaluate, step = build(params, n_vocab, n_hidden)
    print(f"compiled in {time.perf_counter() - t0:.2f} s")

    t0 = time.perf_counter()
    window = []
    for k in range(1, steps + 1):
        xb, yb = batches(data, seq_len, args.batch_size, rng)
        loss, _ = train(xb, yb, lr)
        window.append(float(loss))
        if k % report_every == 0 or k == steps:
            mean = float(np.mean(window))
            print(f"step {k:5d}  loss {mean:.3f} nats/char  {mean / math.log(2):.3f} bits/char")
            window = []
    print(f"trained {steps} steps in {time.perf_counter() - t0:.2f} s")

    # The final loss: mean crossentropy over the whole text, in fixed windows (no update).
    xs, ys = [], []
    for s in range(0, len(data) - seq_len - 1, seq_len):
        xs.append(data[s:s + seq_len])
        ys.append(data[s + 1:s + seq_len + 1])
    final = float(evaluate(np.stack(xs, axis=1), np.stack(ys, axis=1)))
    print("greedy:  " + repr(generate(step, vocab, "Alice ", 80, n_hidden)))
    print("sampled: " + repr(generate(step, vocab, "Alice ", 80, n_hidden, rng=rng)))
    print(f"final loss: {final:.3f}")
    return final


if __name__ == "__main__":
    main()
