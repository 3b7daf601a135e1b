using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using Circuits.Interpretability.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Activations;

/// <summary>
/// Reduces the channel dimension of activations to a few factors with NMF, PCA or FastICA, as Lucid's and Lucent's
/// <c>ChannelReducer</c> and Captum's do: every position of every image is one row (its activation vector), the
/// decomposition is fitted to those rows, and the factors come back in the activations' own layout with k
/// channels. Layouts: N x C x H x W, C x H x W (one image) or N x C. Building Blocks' "neuron groups" are the
/// NMF factors of one image's activations; <see cref="FitLayer"/> fits over a dataset instead.
/// </summary>
/// <example>
/// <code>
/// using var reducer = new ChannelReducer(3, ReductionMethod.Nmf);
/// using Tensor factors = reducer.FitTransform(activations);        // 1 x 3 x H x W
/// using Tensor rgb = FactorMap.Render(factors, 224, 224, image);   // the factors as colours over the image
/// Tensor groups = reducer.Directions;                              // 3 x C: render each with Objectives.Direction
/// </code>
/// </example>
public sealed class ChannelReducer : IDisposable
{
    private NmfFactorization? _nmf;
    private PcaResult? _pca;
    private IcaResult? _ica;
    private long _channels;

    /// <summary>Creates an unfitted reducer.</summary>
    /// <exception cref="CircuitsException">components is not positive, or an option is out of range.</exception>
    public ChannelReducer(int components = 3, ReductionMethod method = ReductionMethod.Nmf, ChannelReducerOptions? options = null)
    {
        options ??= new ChannelReducerOptions();
        if (components < 1)
        {
            throw new CircuitsException($"A channel reducer needs at least 1 component; got {components}.");
        }

        if (options.Iterations < 1 || options.MaxSamples < 1)
        {
            throw new CircuitsException($"ChannelReducerOptions out of range: iterations {options.Iterations}, max samples {options.MaxSamples}; expected positive values.");
        }

        if (!Enum.IsDefined(method))
        {
            throw new CircuitsException($"Unknown reduction method {(int)method}; expected {string.Join(", ", Enum.GetNames<ReductionMethod>())}.");
        }

        ComponentCount = components;
        Method = method;
        Options = options;
    }

    /// <summary>The number of factors.</summary>
    public int ComponentCount { get; }

    /// <summary>The decomposition.</summary>
    public ReductionMethod Method { get; }

    /// <summary>The settings.</summary>
    public ChannelReducerOptions Options { get; }

    /// <summary>Whether <see cref="Fit"/> (or <see cref="FitTransform"/>, <see cref="FitLayer"/>) has run.</summary>
    public bool IsFitted => _nmf is not null || _pca is not null || _ica is not null;

    /// <summary>
    /// The fitted components, k x C (k x 2 C with <see cref="ChannelReducerOptions.PosNeg"/>), float64: NMF's H, PCA's
    /// principal axes, ICA's unmixing matrix (scikit-learn's <c>components_</c>). A view the reducer owns.
    /// </summary>
    /// <exception cref="CircuitsException">The reducer is not fitted.</exception>
    public Tensor Components => _nmf?.H ?? _pca?.Components ?? _ica?.Components ?? throw NotFitted();

    /// <summary>
    /// Each factor as a direction in the layer's activation space, k x C, float32 (a new tensor the caller owns): NMF's
    /// and PCA's components (with PosNeg, the positive half minus the negative half), ICA's mixing columns. Pass a
    /// row to <c>Objectives.Direction</c> to see what a factor means.
    /// </summary>
    public Tensor Directions
    {
        get
        {
            using var scope = NewDisposeScope();
            Tensor d = _ica is not null ? _ica.Mixing.t() : Components;
            if (Options.PosNeg)
            {
                d = d.narrow(1, 0, _channels).sub(d.narrow(1, _channels, _channels));
            }

            return d.to(ScalarType.Float32).contiguous().DetachFromDisposeScope();
        }
    }

    /// <summary>NMF: ||X - W H||_F after fitting; PCA: the fraction of variance the components leave out; ICA: NaN.</summary>
    public double ReconstructionError => _nmf?.Error ?? (_pca is not null ? 1 - _pca.ExplainedVarianceRatio.Sum() : double.NaN);

    /// <summary>PCA only: each component's share of the variance (empty for the other methods).</summary>
    public IReadOnlyList<double> ExplainedVarianceRatio => _pca?.ExplainedVarianceRatio ?? Array.Empty<double>();

    /// <summary>Fits the decomposition to every position's activation vector. Refitting replaces the previous fit.</summary>
    /// <exception cref="CircuitsException">The layout is not supported, NMF gets negative values without PosNeg, or too few rows.</exception>
    public ChannelReducer Fit(Tensor activations)
    {
        FitTransform(activations).Dispose();
        return this;
    }

    /// <summary>Fits, then returns the factors of <paramref name="activations"/> in their layout with k channels (float32; the caller owns it).</summary>
    /// <inheritdoc cref="Fit" path="/exception"/>
    public Tensor FitTransform(Tensor activations)
    {
        ArgumentNullException.ThrowIfNull(activations);
        using var scope = NewDisposeScope();
        Tensor rows = Rows(activations, out long channels);
        if (ComponentCount > rows.shape[1])
        {
            throw new CircuitsException($"{ComponentCount} components cannot be drawn from {rows.shape[1]} channels; expected at most {rows.shape[1]}.");
        }

        Release();
        _channels = channels;
        Tensor factors;
        switch (Method)
        {
            case ReductionMethod.Nmf:
                _nmf = Nmf.Factorize(rows, ComponentCount, Options.Iterations, Options.Seed);
                factors = _nmf.W;
                break;
            case ReductionMethod.Pca:
                _pca = Pca.Fit(rows, ComponentCount);
                factors = _pca.Transform(rows);
                break;
            default:
                _ica = FastIca.Fit(rows, ComponentCount, Options.Iterations, 1e-4, Options.Seed);
                factors = _ica.Transform(rows);
                break;
        }

        return Unrows(factors, activations).DetachFromDisposeScope();
    }

    /// <summary>The factors of new activations under the fitted decomposition (float32, their layout with k channels; the caller owns it).</summary>
    /// <exception cref="CircuitsException">Not fitted, or the activations have another channel count.</exception>
    public Tensor Transform(Tensor activations)
    {
        ArgumentNullException.ThrowIfNull(activations);
        using var scope = NewDisposeScope();
        Tensor rows = Rows(activations, out long channels);
        if (!IsFitted)
        {
            throw NotFitted();
        }

        if (channels != _channels)
        {
            throw new CircuitsException($"The activations have {channels} channels; the reducer was fitted to {_channels}.");
        }

        Tensor factors = _nmf is not null ? Nmf.Transform(rows, _nmf.H, Options.Iterations)
            : _pca is not null ? _pca.Transform(rows)
            : _ica!.Transform(rows);
        return Unrows(factors, activations).DetachFromDisposeScope();
    }

    /// <summary>Back from factors (the activations' layout with k channels) to C channels; with PosNeg, positive part minus negative part.</summary>
    /// <exception cref="CircuitsException">Not fitted, or the factors do not have k channels.</exception>
    public Tensor InverseTransform(Tensor factors)
    {
        ArgumentNullException.ThrowIfNull(factors);
        if (!IsFitted)
        {
            throw NotFitted();
        }

        using var scope = NewDisposeScope();
        Tensor rows = RowsOf(factors, out long k).to(ScalarType.Float64).to(Components.device);
        if (k != ComponentCount)
        {
            throw new CircuitsException($"The factors have {k} channels; the reducer has {ComponentCount} components.");
        }

        Tensor back = _nmf is not null ? rows.mm(_nmf.H) : _pca is not null ? _pca.InverseTransform(rows) : _ica!.InverseTransform(rows);
        if (Options.PosNeg)
        {
            back = back.narrow(1, 0, _channels).sub(back.narrow(1, _channels, _channels));
        }

        return Unrows(back, factors).DetachFromDisposeScope();
    }

    /// <summary>
    /// Fits to <paramref name="layer"/>'s activations over a dataset: each batch of <paramref name="inputs"/> (N x 3 x H x W
    /// images in [0, 1], brought to the model's input by <paramref name="preprocess"/>, or by the model's own convention
    /// when null) runs through the model,
    /// and every position of every image is a candidate row. When there are more than
    /// <see cref="ChannelReducerOptions.MaxSamples"/>, a seeded uniform sample of them is kept (memory stays bounded).
    /// </summary>
    /// <exception cref="UnknownLayerException">The layer does not exist.</exception>
    /// <exception cref="OperationCanceledException">Cancelled between batches.</exception>
    public ChannelReducer FitLayer(nn.Module<Tensor, Tensor> model, string layer, IEnumerable<Tensor> inputs, Func<Tensor, Tensor>? preprocess = null, IProgress<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(inputs);
        using var scope = NewDisposeScope();
        Func<Tensor, Tensor> pre = Preprocessing.Resolve(model, preprocess);
        Tensor? kept = null, keys = null;
        using var generator = new Generator((ulong)Options.Seed);
        int batches = 0;
        using (var capture = ActivationCapture.Attach(model, new[] { layer }))
        {
            bool wasTraining = model.training;
            model.eval();
            try
            {
                foreach (Tensor batch in inputs)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    using var step = NewDisposeScope();
                    using CaptureResult result = capture.Run(pre(batch));
                    Tensor rows = RowsOf(result[layer], out _).to(ScalarType.Float32).cpu();
                    Tensor rowKeys = rand(new[] { rows.shape[0] }, generator: generator);
                    Tensor allRows = kept is null ? rows : cat(new[] { kept, rows }, 0);
                    Tensor allKeys = keys is null ? rowKeys : cat(new[] { keys, rowKeys }, 0);
                    if (allRows.shape[0] > Options.MaxSamples)
                    {
                        Tensor keep = allKeys.topk(Options.MaxSamples, largest: false).indexes;
                        allRows = allRows.index_select(0, keep);
                        allKeys = allKeys.index_select(0, keep);
                    }

                    kept?.Dispose();
                    keys?.Dispose();
                    kept = allRows.MoveToOuterDisposeScope();
                    keys = allKeys.MoveToOuterDisposeScope();
                    progress?.Report(++batches);
                }
            }
            finally
            {
                model.train(wasTraining);
            }
        }

        if (kept is null)
        {
            throw new CircuitsException("FitLayer got no input batches; expected at least one N x 3 x H x W batch.");
        }

        Fit(kept);
        return this;
    }

    /// <summary>Frees the fitted tensors.</summary>
    public void Dispose() => Release();

    private Tensor Rows(Tensor activations, out long channels)
    {
        Tensor rows = RowsOf(activations, out channels).to(ScalarType.Float64);
        return Options.PosNeg ? cat(new[] { rows.clamp_min(0), rows.neg().clamp_min(0) }, 1) : rows;
    }

    /// <summary>Every position as a row: N x C x H x W and C x H x W to (positions) x C; N x C as it is.</summary>
    private static Tensor RowsOf(Tensor t, out long channels)
    {
        switch (t.dim())
        {
            case 4:
                channels = t.shape[1];
                return t.detach().permute(0, 2, 3, 1).reshape(-1, channels);
            case 3:
                channels = t.shape[0];
                return t.detach().permute(1, 2, 0).reshape(-1, channels);
            case 2:
                channels = t.shape[1];
                return t.detach();
            default:
                throw new CircuitsException($"Activations of shape [{string.Join(", ", t.shape)}] are not supported; expected N x C x H x W, C x H x W or N x C.");
        }
    }

    /// <summary>Rows (positions x k) back to the layout of <paramref name="like"/> with k channels, float32 on its device.</summary>
    private static Tensor Unrows(Tensor rows, Tensor like)
    {
        long k = rows.shape[1];
        Tensor r = rows.to(ScalarType.Float32).to(like.device);
        return like.dim() switch
        {
            4 => r.reshape(like.shape[0], like.shape[2], like.shape[3], k).permute(0, 3, 1, 2).contiguous(),
            3 => r.reshape(like.shape[1], like.shape[2], k).permute(2, 0, 1).contiguous(),
            _ => r.contiguous(),
        };
    }

    private static CircuitsException NotFitted() => new("The channel reducer is not fitted; call Fit, FitTransform or FitLayer first.");

    private void Release()
    {
        _nmf?.Dispose();
        _pca?.Dispose();
        _ica?.Dispose();
        _nmf = null;
        _pca = null;
        _ica = null;
    }
}
