using Circuits.Interpretability.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Circuits;

/// <summary>
/// A mixed block with InceptionV1's mixed3b structure and channel counts: 256 inputs; a 1x1 branch of 128;
/// a 3x3 branch (1x1 bottleneck 128, 3x3 conv 192); a 5x5 branch (1x1 bottleneck 32, 5x5 conv 96); a 3x3
/// stride-1 "same" max-pool followed by a 1x1 pool_reduce of 64; each conv followed by an nn.ReLU module;
/// outputs concatenated along channels (480). Children are invoked with call() so hooks fire.
/// </summary>
internal sealed class InceptionShapedBlock : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d conv_1x1 = nn.Conv2d(256, 128, 1);
    public readonly ReLU relu_1x1 = nn.ReLU();
    public readonly Conv2d conv_3x3_bottleneck = nn.Conv2d(256, 128, 1);
    public readonly ReLU relu_3x3_bottleneck = nn.ReLU();
    public readonly Conv2d conv_3x3 = nn.Conv2d(128, 192, 3, padding: 1);
    public readonly ReLU relu_3x3 = nn.ReLU();
    public readonly Conv2d conv_5x5_bottleneck = nn.Conv2d(256, 32, 1);
    public readonly ReLU relu_5x5_bottleneck = nn.ReLU();
    public readonly Conv2d conv_5x5 = nn.Conv2d(32, 96, 5, padding: 2);
    public readonly ReLU relu_5x5 = nn.ReLU();
    public readonly MaxPool2d pool = nn.MaxPool2d(3, stride: 1, padding: 1);
    public readonly Conv2d conv_pool_reduce = nn.Conv2d(256, 64, 1);
    public readonly ReLU relu_pool_reduce = nn.ReLU();

    public InceptionShapedBlock() : base("mixed")
    {
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        Tensor a = relu_1x1.call(conv_1x1.call(x));
        Tensor b = relu_3x3.call(conv_3x3.call(relu_3x3_bottleneck.call(conv_3x3_bottleneck.call(x))));
        Tensor c = relu_5x5.call(conv_5x5.call(relu_5x5_bottleneck.call(conv_5x5_bottleneck.call(x))));
        Tensor d = relu_pool_reduce.call(conv_pool_reduce.call(pool.call(x)));
        return cat(new[] { a, b, c, d }, 1);
    }

    /// <summary>A model whose input (256 channels) passes through a stand-in "mixed3a" (a ReLU) into "mixed3b", seeded.</summary>
    public static Sequential Model(int seed)
    {
        var block = new InceptionShapedBlock();
        SeededInitialization.Apply(block, seed);
        return nn.Sequential(("mixed3a", nn.ReLU()), ("mixed3b", block));
    }
}
