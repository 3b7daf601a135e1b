using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Models;

/// <summary>
/// One mixed (inception) layer of <see cref="InceptionV1"/>, with Lucid's four branches:
/// a 1x1 conv; a 1x1 "3x3 bottleneck" then a 3x3 conv; a 1x1 "5x5 bottleneck" then a 5x5 conv; and a 3x3
/// stride-1 max-pool (SAME, padded with -inf) then a 1x1 "pool reduce" conv. Every conv is followed by its own
/// <see cref="ReLU"/> module and the four branch outputs are joined by <see cref="ChannelConcat"/> in the order
/// 1x1, 3x3, 5x5, pool reduce. Submodules: <c>conv_1x1</c>, <c>relu_1x1</c>, <c>conv_3x3_bottleneck</c>,
/// <c>relu_3x3_bottleneck</c>, <c>conv_3x3</c>, <c>relu_3x3</c>, <c>conv_5x5_bottleneck</c>,
/// <c>relu_5x5_bottleneck</c>, <c>conv_5x5</c>, <c>relu_5x5</c>, <c>pool</c>, <c>conv_pool_reduce</c>,
/// <c>relu_pool_reduce</c>, <c>concat</c>. A <c>conv_*</c> output is Lucid's <c>*_pre_relu</c> tensor.
/// </summary>
public sealed class InceptionMixed : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // Field names are the module paths users address, in Lucid's spelling.
    private readonly Conv2d conv_1x1;
    private readonly ReLU relu_1x1;
    private readonly Conv2d conv_3x3_bottleneck;
    private readonly ReLU relu_3x3_bottleneck;
    private readonly Conv2d conv_3x3;
    private readonly ReLU relu_3x3;
    private readonly Conv2d conv_5x5_bottleneck;
    private readonly ReLU relu_5x5_bottleneck;
    private readonly Conv2d conv_5x5;
    private readonly ReLU relu_5x5;
    private readonly MaxPool2d pool;
    private readonly Conv2d conv_pool_reduce;
    private readonly ReLU relu_pool_reduce;
    private readonly ChannelConcat concat;
#pragma warning restore IDE1006

    /// <summary>Creates a mixed layer.</summary>
    /// <param name="name">The layer's name (e.g. <c>mixed3a</c>).</param>
    /// <param name="inputChannels">Channels coming in.</param>
    /// <param name="channels">Output channels of the branches.</param>
    public InceptionMixed(string name, int inputChannels, InceptionBranches channels) : base(name)
    {
        ArgumentNullException.ThrowIfNull(channels);
        InputChannels = inputChannels;
        Channels = channels;
        conv_1x1 = nn.Conv2d(inputChannels, channels.Conv1x1, 1);
        relu_1x1 = nn.ReLU();
        conv_3x3_bottleneck = nn.Conv2d(inputChannels, channels.Bottleneck3x3, 1);
        relu_3x3_bottleneck = nn.ReLU();
        conv_3x3 = nn.Conv2d(channels.Bottleneck3x3, channels.Conv3x3, 3, padding: 1);
        relu_3x3 = nn.ReLU();
        conv_5x5_bottleneck = nn.Conv2d(inputChannels, channels.Bottleneck5x5, 1);
        relu_5x5_bottleneck = nn.ReLU();
        conv_5x5 = nn.Conv2d(channels.Bottleneck5x5, channels.Conv5x5, 5, padding: 2);
        relu_5x5 = nn.ReLU();
        // Stride 1 with symmetric padding 1 is exactly TensorFlow's SAME; PyTorch pads max-pools with -inf.
        pool = nn.MaxPool2d(3, stride: 1, padding: 1);
        conv_pool_reduce = nn.Conv2d(inputChannels, channels.PoolReduce, 1);
        relu_pool_reduce = nn.ReLU();
        concat = new ChannelConcat();
        RegisterComponents();
    }

    /// <summary>Channels coming in.</summary>
    public int InputChannels { get; }

    /// <summary>Output channels of each branch.</summary>
    public InceptionBranches Channels { get; }

    /// <summary>Channels going out: the sum of the four branch outputs.</summary>
    public int OutputChannels => Channels.OutputChannels;

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        // No dispose scope here: hooks keep handles to the intermediate outputs, which a scope would free.
        Tensor b1 = relu_1x1.call(conv_1x1.call(input));
        Tensor b3 = relu_3x3.call(conv_3x3.call(relu_3x3_bottleneck.call(conv_3x3_bottleneck.call(input))));
        Tensor b5 = relu_5x5.call(conv_5x5.call(relu_5x5_bottleneck.call(conv_5x5_bottleneck.call(input))));
        Tensor bp = relu_pool_reduce.call(conv_pool_reduce.call(pool.call(input)));
        return concat.call(new[] { b1, b3, b5, bp });
    }
}

/// <summary>Output channels of the branches of one <see cref="InceptionMixed"/> layer.</summary>
/// <param name="Conv1x1">The 1x1 branch.</param>
/// <param name="Bottleneck3x3">The 1x1 conv before the 3x3 conv.</param>
/// <param name="Conv3x3">The 3x3 branch.</param>
/// <param name="Bottleneck5x5">The 1x1 conv before the 5x5 conv.</param>
/// <param name="Conv5x5">The 5x5 branch.</param>
/// <param name="PoolReduce">The 1x1 conv after the max-pool.</param>
public sealed record InceptionBranches(int Conv1x1, int Bottleneck3x3, int Conv3x3, int Bottleneck5x5, int Conv5x5, int PoolReduce)
{
    /// <summary>The channels of the concatenated output.</summary>
    public int OutputChannels => Conv1x1 + Conv3x3 + Conv5x5 + PoolReduce;
}
