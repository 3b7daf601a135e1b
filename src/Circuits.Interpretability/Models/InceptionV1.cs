using System.Text.RegularExpressions;
using Circuits.Interpretability.Core;
using Circuits.Interpretability.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Models;

/// <summary>
/// InceptionV1 (GoogLeNet) exactly as Lucid publishes it (<c>inception5h</c>, 1008 classes), the network the
/// Distill Circuits thread studies, with the articles' layer names: <c>conv2d0</c>, <c>conv2d1</c>,
/// <c>conv2d2</c>, <c>mixed3a</c> ... <c>mixed5b</c>, <c>softmax2</c>.
/// </summary>
/// <remarks>
/// <para>Numerics follow Lucid's TensorFlow graph: TensorFlow SAME padding (asymmetric where TensorFlow pads
/// asymmetrically, computed from the input size), max-pools padded with -inf, and local response normalization
/// after <c>maxpool0</c> and <c>conv2d2</c> with the graph's attributes (depth radius 5, alpha 1e-4, beta 0.5,
/// bias 2; in PyTorch's convention size 11, alpha 0.0011, beta 0.5, k 2 - not Lucent's size 9, k 1).</para>
/// <para>Input: an RGB image in [0, 1], NCHW, passed through <see cref="Preprocess"/> (x * 255 - 117, Lucid's
/// value range (-117, 138)) before the network. The forward pass does not preprocess; the model declares the
/// convention (<see cref="IInputConvention"/>), so renders, tuning curves, dataset examples and attribution apply
/// it on their own unless told otherwise. Call <see cref="Preprocess"/> yourself before <c>call()</c> or a capture.</para>
/// <para>Every operation is a registered submodule invoked with <c>call()</c>, so hooks see all of them:
/// <c>conv2d0.conv</c> is the pre-ReLU conv output (Lucid's <c>conv2d0_pre_relu</c>), <c>conv2d0</c> and
/// <c>conv2d0.relu</c> the post-ReLU output; inside each mixed layer see <see cref="InceptionMixed"/>.
/// <c>softmax2_pre_activation</c> gives the 1008 logits, <c>softmax2</c> (the model's output) the
/// probabilities. The graph's <c>avgpool0</c> is a 7x7 average, which at 224x224 input is the mean over
/// <c>mixed5b</c>'s 7x7 map; here it is a global average, so other input sizes work too.</para>
/// </remarks>
public sealed partial class InceptionV1 : nn.Module<Tensor, Tensor>, IInputConvention
{
    /// <summary>The number of parameters: 7,066,380.</summary>
    public const long ParameterCount = 7_066_380;

    /// <summary>The number of classes of <c>softmax2</c>.</summary>
    public const int Classes = 1008;

    /// <summary>The input size at which the network reproduces Lucid's graph end to end, 224 pixels.</summary>
    public const int DefaultInputSize = 224;

    /// <summary>Lucid's input scale: the network sees x * 255 + <see cref="InputOffset"/>.</summary>
    public const float InputScale = 255f;

    /// <summary>Lucid's input offset: the network sees x * <see cref="InputScale"/> - 117.</summary>
    public const float InputOffset = -117f;

    private static readonly (string Name, int In, InceptionBranches Branches)[] MixedSpecs =
    {
        ("mixed3a", 192, new InceptionBranches(64, 96, 128, 16, 32, 32)),
        ("mixed3b", 256, new InceptionBranches(128, 128, 192, 32, 96, 64)),
        ("mixed4a", 480, new InceptionBranches(192, 96, 204, 16, 48, 64)),
        ("mixed4b", 508, new InceptionBranches(160, 112, 224, 24, 64, 64)),
        ("mixed4c", 512, new InceptionBranches(128, 128, 256, 24, 64, 64)),
        ("mixed4d", 512, new InceptionBranches(112, 144, 288, 32, 64, 64)),
        ("mixed4e", 528, new InceptionBranches(256, 160, 320, 32, 128, 128)),
        ("mixed5a", 832, new InceptionBranches(256, 160, 320, 48, 128, 128)),
        ("mixed5b", 832, new InceptionBranches(384, 192, 384, 48, 128, 128)),
    };

#pragma warning disable IDE1006 // Field names are the module paths users address, in Lucid's spelling.
    private readonly Sequential conv2d0;
    private readonly Sequential maxpool0;
    private readonly LocalResponseNorm localresponsenorm0;
    private readonly Sequential conv2d1;
    private readonly Sequential conv2d2;
    private readonly LocalResponseNorm localresponsenorm1;
    private readonly Sequential maxpool1;
    private readonly InceptionMixed mixed3a;
    private readonly InceptionMixed mixed3b;
    private readonly Sequential maxpool4;
    private readonly InceptionMixed mixed4a;
    private readonly InceptionMixed mixed4b;
    private readonly InceptionMixed mixed4c;
    private readonly InceptionMixed mixed4d;
    private readonly InceptionMixed mixed4e;
    private readonly Sequential maxpool10;
    private readonly InceptionMixed mixed5a;
    private readonly InceptionMixed mixed5b;
    private readonly AdaptiveAvgPool2d avgpool0;
    private readonly Linear softmax2_pre_activation;
    private readonly Softmax softmax2;
#pragma warning restore IDE1006

    /// <summary>Creates the network with random weights drawn from a seeded generator (He-uniform weights,
    /// biases in +-0.1), so that tests and samples run without real weights. Load real weights with
    /// <see cref="FromFile"/> or <see cref="LoadWeights"/>.</summary>
    /// <param name="seed">Seed for the weights; the same seed gives the same network on every machine.</param>
    public InceptionV1(int seed = 0) : base(TorchBackend.Checked(nameof(InceptionV1)))
    {
        conv2d0 = nn.Sequential(("pad", new SamePad2d(7, 2)), ("conv", nn.Conv2d(3, 64, 7, stride: 2)), ("relu", nn.ReLU()));
        maxpool0 = MaxPoolSame();
        localresponsenorm0 = Lrn();
        conv2d1 = nn.Sequential(("conv", nn.Conv2d(64, 64, 1)), ("relu", nn.ReLU()));
        conv2d2 = nn.Sequential(("conv", nn.Conv2d(64, 192, 3, padding: 1)), ("relu", nn.ReLU()));
        localresponsenorm1 = Lrn();
        maxpool1 = MaxPoolSame();
        mixed3a = Mixed(0);
        mixed3b = Mixed(1);
        maxpool4 = MaxPoolSame();
        mixed4a = Mixed(2);
        mixed4b = Mixed(3);
        mixed4c = Mixed(4);
        mixed4d = Mixed(5);
        mixed4e = Mixed(6);
        maxpool10 = MaxPoolSame();
        mixed5a = Mixed(7);
        mixed5b = Mixed(8);
        avgpool0 = nn.AdaptiveAvgPool2d(1);
        softmax2_pre_activation = nn.Linear(1024, Classes);
        softmax2 = nn.Softmax(1);
        RegisterComponents();
        SeededInitialization.Apply(this, seed);
    }

    /// <summary>
    /// The layers the Circuits articles name, input to output: <c>conv2d0</c>, <c>conv2d1</c>, <c>conv2d2</c>,
    /// <c>mixed3a</c>, <c>mixed3b</c>, <c>mixed4a</c> ... <c>mixed4e</c>, <c>mixed5a</c>, <c>mixed5b</c>,
    /// <c>softmax2</c>. Each is a module path of this model.
    /// </summary>
    public static IReadOnlyList<string> LayerNames { get; } = new[]
    {
        "conv2d0", "conv2d1", "conv2d2", "mixed3a", "mixed3b", "mixed4a", "mixed4b", "mixed4c", "mixed4d",
        "mixed4e", "mixed5a", "mixed5b", "softmax2",
    };

    /// <summary>The mixed layers' names, input to output.</summary>
    public static IReadOnlyList<string> MixedLayerNames { get; } = MixedSpecs.Select(s => s.Name).ToArray();

    /// <summary>The output channels of every layer in <see cref="LayerNames"/> (softmax2: the 1008 classes).</summary>
    public static IReadOnlyDictionary<string, int> LayerChannels { get; } = new Dictionary<string, int>
    {
        ["conv2d0"] = 64,
        ["conv2d1"] = 64,
        ["conv2d2"] = 192,
        ["mixed3a"] = 256,
        ["mixed3b"] = 480,
        ["mixed4a"] = 508,
        ["mixed4b"] = 512,
        ["mixed4c"] = 512,
        ["mixed4d"] = 528,
        ["mixed4e"] = 832,
        ["mixed5a"] = 832,
        ["mixed5b"] = 1024,
        ["softmax2"] = Classes,
    };

    /// <summary>The branch channels of every mixed layer.</summary>
    public static IReadOnlyDictionary<string, InceptionBranches> MixedBranches { get; } =
        MixedSpecs.ToDictionary(s => s.Name, s => s.Branches);

    /// <summary>
    /// Lucid's input convention, the one place it is applied: an RGB image in [0, 1] becomes
    /// x * 255 - 117 (value range (-117, 138)). Renders, tuning curves, dataset examples and attribution apply it
    /// on their own (through <see cref="IInputConvention"/>); call it before running the model directly.
    /// </summary>
    public static Tensor Preprocess(Tensor image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return (image * InputScale) + InputOffset;
    }

    /// <inheritdoc cref="Preprocess(Tensor)"/>
    Tensor IInputConvention.Preprocess(Tensor image) => Preprocess(image);

    /// <summary>
    /// Reads a weight file (PyTorch <c>inception5h.pth</c> or safetensors; keys in inception5h's naming or as
    /// this model's module paths) into a new network.
    /// </summary>
    /// <param name="path">The weight file.</param>
    /// <param name="options">Reading limits, and whether NaN or infinite weights are allowed (refused by default); defaults when null.</param>
    /// <exception cref="WeightFormatException">The file cannot be read.</exception>
    /// <exception cref="StateDictMismatchException">The file does not hold exactly InceptionV1's weights.</exception>
    /// <exception cref="NonFiniteWeightsException">Weights hold NaN or infinite values (unless <see cref="WeightLoadOptions.AllowNonFinite"/>).</exception>
    public static InceptionV1 FromFile(string path, WeightLoadOptions? options = null)
    {
        options ??= WeightLoadOptions.Default;
        StateDict weights = WeightFile.Load(path, options);
        var model = new InceptionV1();
        try
        {
            model.LoadWeights(weights, options.AllowNonFinite);
        }
        catch
        {
            model.Dispose();
            throw;
        }

        model.eval();
        return model;
    }

    /// <summary>
    /// Lucid's <c>inception5h.pth</c> as <see cref="ModelRegistry.Inception5h"/> registers it, with a check that loads the
    /// downloaded weights into an InceptionV1 before <see cref="ModelCache"/> keeps them (its SHA-256 is not published).
    /// </summary>
    public static ModelFile WeightsFile { get; } = ModelRegistry.Inception5h with { Check = CheckWeights };

    /// <summary>
    /// Downloads Lucid's <c>inception5h.pth</c> once into <paramref name="cache"/> (see <see cref="WeightsFile"/>)
    /// and loads it.
    /// </summary>
    /// <exception cref="ModelDownloadException">The file is not cached and cannot be downloaded or is not InceptionV1's weights;
    /// the message says where to put it by hand.</exception>
    public static async Task<InceptionV1> PretrainedAsync(ModelCache? cache = null, IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        cache ??= new ModelCache();
        string path = await cache.GetAsync(WeightsFile, progress, cancellationToken).ConfigureAwait(false);
        return FromFile(path);
    }

    /// <summary>Loads all weights from <paramref name="weights"/> (inception5h names or module paths), all or nothing.</summary>
    /// <param name="weights">The weights.</param>
    /// <param name="allowNonFinite">When false (the default), NaN or infinite weights are refused, naming the tensors.</param>
    /// <exception cref="StateDictMismatchException">Keys are missing, unexpected or of the wrong shape; nothing was changed.</exception>
    /// <exception cref="NonFiniteWeightsException">Weights hold NaN or infinite values; nothing was changed.</exception>
    public StateDictLoadReport LoadWeights(StateDict weights, bool allowNonFinite = false) =>
        StateDictLoader.Load(this, weights, MapInception5hKey, allowNonFinite: allowNonFinite);

    private static void CheckWeights(StateDict weights)
    {
        using var model = new InceptionV1();
        model.LoadWeights(weights);
    }

    /// <summary>
    /// Maps a key of Lucid/Lucent's <c>inception5h.pth</c> to this model's parameter path:
    /// <c>conv2d0_pre_relu_conv.weight</c> to <c>conv2d0.conv.weight</c>,
    /// <c>mixed3b_3x3_bottleneck_pre_relu_conv.bias</c> to <c>mixed3b.conv_3x3_bottleneck.bias</c>,
    /// <c>softmax2_pre_activation_matmul.weight</c> to <c>softmax2_pre_activation.weight</c>. Other keys come back unchanged.
    /// </summary>
    public static string MapInception5hKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Match m = Inception5hKey().Match(key);
        if (!m.Success)
        {
            return key;
        }

        if (m.Groups["conv"].Success)
        {
            return $"{m.Groups["conv"].Value}.conv.{m.Groups["param"].Value}";
        }

        if (m.Groups["mixed"].Success)
        {
            return $"{m.Groups["mixed"].Value}.conv_{m.Groups["branch"].Value}.{m.Groups["param"].Value}";
        }

        return $"softmax2_pre_activation.{m.Groups["param"].Value}";
    }

    /// <summary>
    /// The module path of a tensor as Lucid names it: <c>mixed3b_3x3_pre_relu</c> is <c>mixed3b.conv_3x3</c>,
    /// <c>mixed3b_3x3</c> is <c>mixed3b.relu_3x3</c>, <c>mixed3b_pool</c> is <c>mixed3b.pool</c>,
    /// <c>conv2d0_pre_relu</c> is <c>conv2d0.conv</c>; <c>conv2d0</c>, <c>mixed3b</c>, <c>maxpool4</c>,
    /// <c>localresponsenorm1</c>, <c>avgpool0</c>, <c>softmax2_pre_activation</c> and <c>softmax2</c> keep their names.
    /// </summary>
    /// <exception cref="CircuitsException">Lucid's graph has no tensor of that name in this model.</exception>
    public static string ModulePath(string lucidName)
    {
        ArgumentNullException.ThrowIfNull(lucidName);
        Match m = LucidName().Match(lucidName);
        if (m.Success)
        {
            if (m.Groups["conv"].Success)
            {
                return m.Groups["pre"].Success ? $"{m.Groups["conv"].Value}.conv" : m.Groups["conv"].Value;
            }

            if (m.Groups["mixed"].Success)
            {
                string mixed = m.Groups["mixed"].Value;
                if (!m.Groups["branch"].Success)
                {
                    return mixed;
                }

                string branch = m.Groups["branch"].Value;
                if (branch == "pool")
                {
                    return m.Groups["pre"].Success ? throw UnknownLucidName(lucidName) : $"{mixed}.pool";
                }

                return $"{mixed}.{(m.Groups["pre"].Success ? "conv" : "relu")}_{branch}";
            }

            return lucidName;
        }

        throw UnknownLucidName(lucidName);
    }

    /// <inheritdoc />
    public override Tensor forward(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.dim() != 4 || input.shape[1] != 3)
        {
            throw new CircuitsException($"InceptionV1 takes NCHW RGB input of shape [N, 3, H, W]; got [{string.Join(", ", input.shape)}].");
        }

        // No dispose scope here: hooks keep handles to the intermediate outputs, which a scope would free.
        // Callers that loop should wrap the whole pass in their own scope.
        Tensor x = conv2d0.call(input);
        x = maxpool0.call(x);
        x = localresponsenorm0.call(x);
        x = conv2d1.call(x);
        x = conv2d2.call(x);
        x = localresponsenorm1.call(x);
        x = maxpool1.call(x);
        x = mixed3a.call(x);
        x = mixed3b.call(x);
        x = maxpool4.call(x);
        x = mixed4a.call(x);
        x = mixed4b.call(x);
        x = mixed4c.call(x);
        x = mixed4d.call(x);
        x = mixed4e.call(x);
        x = maxpool10.call(x);
        x = mixed5a.call(x);
        x = mixed5b.call(x);
        x = avgpool0.call(x).flatten(1);
        x = softmax2_pre_activation.call(x);
        return softmax2.call(x);
    }

    private static Sequential MaxPoolSame() =>
        nn.Sequential(("pad", new SamePad2d(3, 2, double.NegativeInfinity)), ("pool", nn.MaxPool2d(3, stride: 2)));

    // TensorFlow: depth_radius 5, alpha 1e-4 (stored as float32), beta 0.5, bias 2. PyTorch divides alpha by
    // the window size (2 * 5 + 1 = 11), so its alpha is 11 times the graph's.
    private static LocalResponseNorm Lrn() => nn.LocalResponseNorm(11, alpha: 11 * (double)1e-4f, beta: 0.5, k: 2.0);

    private static InceptionMixed Mixed(int index) =>
        new(MixedSpecs[index].Name, MixedSpecs[index].In, MixedSpecs[index].Branches);

    private static CircuitsException UnknownLucidName(string name) => new(
        $"'{name}' is not a tensor of Lucid's InceptionV1 graph that this model has. Expected e.g. 'conv2d0', 'conv2d0_pre_relu', " +
        "'maxpool0', 'localresponsenorm0', 'mixed3b', 'mixed3b_3x3_bottleneck', 'mixed3b_5x5_pre_relu', 'mixed3b_pool', " +
        "'mixed3b_pool_reduce', 'maxpool4', 'avgpool0', 'softmax2_pre_activation' or 'softmax2'.");

    [GeneratedRegex(@"^(?:(?<conv>conv2d[0-2])_pre_relu_conv|(?<mixed>mixed(?:3[ab]|4[a-e]|5[ab]))_(?<branch>1x1|3x3_bottleneck|3x3|5x5_bottleneck|5x5|pool_reduce)_pre_relu_conv|softmax2_pre_activation_matmul)\.(?<param>weight|bias)$")]
    private static partial Regex Inception5hKey();

    [GeneratedRegex(@"^(?:(?<conv>conv2d[0-2])(?<pre>_pre_relu)?|(?<mixed>mixed(?:3[ab]|4[a-e]|5[ab]))(?:_(?<branch>1x1|3x3_bottleneck|3x3|5x5_bottleneck|5x5|pool_reduce|pool)(?<pre>_pre_relu)?)?|maxpool(?:0|1|4|10)|localresponsenorm[01]|avgpool0|softmax2_pre_activation|softmax2)$")]
    private static partial Regex LucidName();
}
