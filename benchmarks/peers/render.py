"""PyTorch peer for a feature-visualization render step on InceptionV1 (Lucent-style loop).

Written from the published description of Lucid's and Lucent's render loop (Olah et al., "Feature Visualization",
Distill 2017; Lucent's render_vis): the image is a Fourier spectrum scaled by 1/frequency, mapped to RGB through the
square root of ImageNet's colour correlation and a sigmoid; each step applies the standard transforms (pad 12 with
grey, jitter 8, scale by one of 0.9..1.1, rotate by one of -10..10 degrees, jitter 4), runs the model, maximizes the
mean of one channel with Adam (0.05). The model is InceptionV1 with Lucid's numerics (TensorFlow SAME padding,
-inf padded max-pools, local response normalization with depth radius 5, alpha 1e-4, beta 0.5, bias 2), input
x * 255 - 117, run only up to the objective's layer (the best case for the peer: Lucent itself runs the whole model).

It reads the weights the C# side saved (safetensors, keys as the C# module paths, e.g. mixed4a.conv_3x3.weight),
times render steps and a bare forward + backward up to the layer at the size the model sees, and can write the
layer's activation for a given input so that the caller checks that both models compute the same thing.
Prints one JSON line.
"""
import argparse
import json
import math
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from expanded_weights import load_safetensors

TRUNK = ['mixed3a', 'mixed3b', 'maxpool4', 'mixed4a', 'mixed4b', 'mixed4c', 'mixed4d', 'mixed4e', 'maxpool10',
         'mixed5a', 'mixed5b']
COLOR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=np.float32)


def same_pad(x, kernel, stride, value=0.0):
    """TensorFlow's SAME padding: the output has ceil(size / stride) positions, the extra pixel goes after."""
    pads = []
    for size in (x.shape[3], x.shape[2]):
        outputs = (size + stride - 1) // stride
        total = max((outputs - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


def conv(x, w, name, stride=1, padding=0):
    return F.conv2d(x, w[name + '.weight'], w[name + '.bias'], stride=stride, padding=padding)


def lrn(x):
    # depth radius 5 -> size 11; PyTorch divides alpha by the size, TensorFlow does not.
    return F.local_response_norm(x, 11, alpha=11 * float(np.float32(1e-4)), beta=0.5, k=2.0)


def max_pool_same(x):
    return F.max_pool2d(same_pad(x, 3, 2, float('-inf')), 3, stride=2)


def mixed(x, w, name):
    b1 = F.relu(conv(x, w, name + '.conv_1x1'))
    b3 = F.relu(conv(F.relu(conv(x, w, name + '.conv_3x3_bottleneck')), w, name + '.conv_3x3', padding=1))
    b5 = F.relu(conv(F.relu(conv(x, w, name + '.conv_5x5_bottleneck')), w, name + '.conv_5x5', padding=2))
    bp = F.relu(conv(F.max_pool2d(x, 3, stride=1, padding=1), w, name + '.conv_pool_reduce'))
    return torch.cat([b1, b3, b5, bp], 1)


def inception_to(x, w, layer):
    """InceptionV1 on an image in [0, 1], up to and including `layer` (a mixed layer)."""
    x = x * 255 - 117
    x = F.relu(conv(same_pad(x, 7, 2), w, 'conv2d0.conv', stride=2))
    x = lrn(max_pool_same(x))
    x = F.relu(conv(x, w, 'conv2d1.conv'))
    x = F.relu(conv(x, w, 'conv2d2.conv', padding=1))
    x = max_pool_same(lrn(x))
    for name in TRUNK:
        x = max_pool_same(x) if name.startswith('maxpool') else mixed(x, w, name)
        if name == layer:
            return x
    raise ValueError(f'unknown layer {layer}')


def fourier_image(size, seed):
    """Lucid's fft_image: a random half spectrum, scaled by 1 / max(f, 1/size), inverse FFT (orthonormal), / 4."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = torch.tensor(1.0 / np.maximum(freqs, 1.0 / size), dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    spectrum = (torch.randn(2, 1, 3, size, size // 2 + 1, generator=generator) * 0.01).requires_grad_(True)
    color = torch.tensor(COLOR_SQRT / np.max(np.linalg.norm(COLOR_SQRT, axis=0)))

    def image():
        t = torch.fft.irfftn(torch.complex(spectrum[0] * scale, spectrum[1] * scale), s=(size, size), norm='ortho') / 4
        return torch.sigmoid(torch.einsum('ck,nkhw->nchw', color, t))

    return spectrum, image


def rotate(x, degrees):
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]], dtype=x.dtype)[None]
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)


def jitter(x, d, rng):
    dy, dx = rng.randrange(d), rng.randrange(d)
    return x[:, :, dy:dy + x.shape[2] - d, dx:dx + x.shape[3] - d]


def standard_transforms(x, rng):
    x = F.pad(x, [12, 12, 12, 12], value=0.5)
    x = jitter(x, 8, rng)
    s = rng.choice([1 + (i - 5) / 50 for i in range(11)])
    size = round(x.shape[2] * s)
    if size != x.shape[2]:
        x = F.interpolate(x, size=(size, size), mode='bilinear', align_corners=False)
    degrees = rng.choice(list(range(-10, 11)) + 5 * [0])
    if degrees != 0:
        x = rotate(x, degrees)
    return jitter(x, 4, rng)


def render_steps(w, layer, channel, size, steps, seed):
    """Times each step of one render; returns the step times in milliseconds."""
    spectrum, image = fourier_image(size, seed)
    optimizer = torch.optim.Adam([spectrum], lr=0.05)
    rng = random.Random(seed)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad()
        activation = inception_to(standard_transforms(image(), rng), w, layer)
        loss = -activation[:, channel].mean()
        loss.backward()
        optimizer.step()
        times.append((time.perf_counter() - start) * 1000)
    return times


def bare_steps(w, layer, channel, size, steps):
    """A forward + backward up to the layer on a leaf input of the size the model sees."""
    generator = torch.Generator().manual_seed(1)
    times = []
    for _ in range(steps):
        x = torch.rand(1, 3, size, size, generator=generator).requires_grad_(True)
        start = time.perf_counter()
        inception_to(x, w, layer)[:, channel].mean().backward()
        times.append((time.perf_counter() - start) * 1000)
    return times


def median(values):
    return sorted(values)[len(values) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--weights', required=True, help='safetensors file written by the C# side')
    parser.add_argument('--layer', default='mixed4a')
    parser.add_argument('--channel', type=int, default=10)
    parser.add_argument('--size', type=int, default=224, help='image size; the model sees about size + 12 after the transforms')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--steps', type=int, default=16, help='timed render steps (after 3 warm-up steps)')
    parser.add_argument('--check-input', help='float32 N x 3 x H x W image in [0, 1] (raw little-endian) to run the model on')
    parser.add_argument('--check-shape', help='its shape, comma-separated')
    parser.add_argument('--check-out', help='write the layer\'s activation on --check-input here (float32, little-endian)')
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    w = load_safetensors(args.weights)
    result = {'peer': 'pytorch, Lucent-style render loop (fft image, decorrelated colour, standard transforms, Adam 0.05)',
              'torch': torch.__version__, 'threads': args.threads, 'layer': args.layer, 'channel': args.channel,
              'size': args.size}
    if args.check_input:
        shape = [int(s) for s in args.check_shape.split(',')]
        x = torch.from_numpy(np.fromfile(args.check_input, dtype='<f4').reshape(shape))
        with torch.no_grad():
            out = inception_to(x, w, args.layer)
        out.contiguous().numpy().astype('<f4').tofile(args.check_out)
        result['check_shape'] = list(out.shape)

    seen = args.size + 24 - 8 - 4
    render_steps(w, args.layer, args.channel, args.size, 3, seed=0)  # warm-up
    bare_steps(w, args.layer, args.channel, seen, 2)
    render = render_steps(w, args.layer, args.channel, args.size, args.steps, seed=1)
    bare = bare_steps(w, args.layer, args.channel, seen, args.steps)
    result.update({'render_step_median_ms': median(render), 'bare_median_ms': median(bare), 'bare_size': seen,
                   'render_over_bare': median(render) / median(bare), 'render_step_ms': render, 'bare_ms': bare})
    print(json.dumps(result))


if __name__ == '__main__':
    main()
