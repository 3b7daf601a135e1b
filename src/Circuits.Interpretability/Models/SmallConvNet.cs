using Circuits.Interpretability.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Models;

/// <summary>
/// A small image classifier built into the library so that examples, tests and benchmarks run with no
/// download: three 3x3 conv / ReLU / max-pool stages (<c>features.conv1</c> ... <c>features.pool3</c>),
/// global average pooling and a linear head (<c>head.fc</c>). Its weights are drawn from a seeded
/// generator, so the same seed gives the same model on every machine. It is untrained: use it to exercise
/// the API, not to study features.
/// </summary>
public sealed class SmallConvNet : nn.Module<Tensor, Tensor>
{
    private readonly Sequential features;
    private readonly Sequential head;

    /// <summary>Creates the network.</summary>
    /// <param name="seed">Seed for the weights.</param>
    /// <param name="width">Channels of the first conv; the next ones have twice and four times as many.</param>
    /// <param name="classes">Outputs of the linear head.</param>
    public SmallConvNet(int seed = 0, int width = 16, int classes = 10) : base(TorchBackend.Checked(nameof(SmallConvNet)))
    {
        if (width <= 0 || classes <= 0)
        {
            throw new ArgumentOutOfRangeException(width <= 0 ? nameof(width) : nameof(classes), $"width ({width}) and classes ({classes}) must be positive.");
        }

        features = nn.Sequential(
            ("conv1", nn.Conv2d(3, width, 3, padding: 1)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(width, 2 * width, 3, padding: 1)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("conv3", nn.Conv2d(2 * width, 4 * width, 3, padding: 1)),
            ("relu3", nn.ReLU()),
            ("pool3", nn.AdaptiveAvgPool2d(1)));
        head = nn.Sequential(("flatten", nn.Flatten()), ("fc", nn.Linear(4 * width, classes)));
        RegisterComponents();
        SeededInitialization.Apply(this, seed);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input) => head.call(features.call(input));
}
