using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>Settings of <see cref="FeatureVisualization.Render"/>. The defaults follow Lucid's.</summary>
public sealed record RenderOptions
{
    /// <summary>Optimization steps. Default 512.</summary>
    public int Steps { get; init; } = 512;

    /// <summary>Adam's learning rate. Default 0.05.</summary>
    public double LearningRate { get; init; } = 0.05;

    /// <summary>Image height and width in pixels. Default 128.</summary>
    public int ImageSize { get; init; } = 128;

    /// <summary>Images optimized together. Default 1.</summary>
    public int BatchSize { get; init; } = 1;

    /// <summary>Seed of the initial image and of every random transformation. Default 0.</summary>
    public int Seed { get; init; }

    /// <summary>Steps (1-based) after which a snapshot of the images is kept. Default: none besides the final images.</summary>
    public IReadOnlyList<int> Thresholds { get; init; } = Array.Empty<int>();

    /// <summary>
    /// Builds the image parameterization from (batch, height, width, seed). Default: <see cref="FourierImage"/>
    /// with colour decorrelation and a sigmoid.
    /// </summary>
    public Func<int, int, int, int, ImageParameterization>? Parameterization { get; init; }

    /// <summary>Transformations applied before each forward pass. Null (default): <see cref="Transforms.Standard"/>; empty: none.</summary>
    public IReadOnlyList<IImageTransform>? Transforms { get; init; }

    /// <summary>
    /// Applied to the transformed image (RGB in [0, 1]) just before the model, to match its input convention.
    /// Null (default): the model's own (<see cref="Core.IInputConvention"/>; InceptionV1's x·255 − 117), or none for
    /// a model that declares none; <see cref="Core.Preprocessing.None"/>: none, whatever the model declares.
    /// </summary>
    public Func<Tensor, Tensor>? Preprocess { get; init; }

    /// <summary>For how many first steps ReLU modules use the redirected gradient (<see cref="RedirectedRelu"/>). Default 16, as Lucid; 0 turns it off.</summary>
    public int RedirectReluSteps { get; init; } = 16;

    /// <summary>
    /// How many images of the batch go through the model together within a step. Null (default): chosen once, at the
    /// first step, from a measurement of one image's activations (as many as fit in about 6 MB, so that a part's
    /// backward finds its activations in cache), which keeps a large batch from costing more per image than single
    /// renders. The parameterization, transforms and optimizer still run on the whole batch, and the gradients are
    /// the whole batch's (up to floating-point rounding). Applies only when the objective is a sum of per-image terms
    /// (unit objectives and image penalties); batch-wide ones (diversity, alignment) always see the whole batch.
    /// </summary>
    public int? MicroBatch { get; init; }

    /// <summary>
    /// The device of the image and of every step; null (default): the model's (<see cref="Core.ModelDevice.Of"/>,
    /// the CPU for a model without parameters). A device other than the model's is refused with
    /// <see cref="Core.DeviceMismatchException"/> before anything runs.
    /// </summary>
    public Device? Device { get; init; }
}

/// <summary>Progress of a render: the step just finished (1-based) and the objective's value at it.</summary>
/// <param name="Step">The step just finished.</param>
/// <param name="Steps">All steps.</param>
/// <param name="Objective">The objective's value at this step (what is maximized).</param>
public readonly record struct RenderProgress(int Step, int Steps, double Objective);
