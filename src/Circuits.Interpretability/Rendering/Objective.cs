using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Rendering;

/// <summary>
/// A quantity to maximize over an image: a unit's activation, a direction, a class logit, or a penalty on
/// the image or on the batch. Objectives compose with <c>+</c>, <c>-</c>, scalar <c>*</c> and <c>/</c> and
/// unary <c>-</c>, and print readably: <c>channel(mixed4a:10) - 0.5 * diversity(mixed4a)</c>. Penalties
/// (<see cref="Objectives.Diversity"/>, <see cref="Objectives.L1"/>, ...) return a non-negative amount to
/// subtract.
/// </summary>
public abstract class Objective
{
    /// <summary>The readable name, for example <c>channel(mixed4a:10)</c>.</summary>
    public abstract string Name { get; }

    /// <summary>The layers whose activations the objective reads.</summary>
    public virtual IEnumerable<string> Layers => Array.Empty<string>();

    /// <summary>Whether the objective reads the model's final output (so the forward pass must run to the end).</summary>
    public virtual bool NeedsOutput => false;

    /// <summary>The largest batch index the objective targets, or -1 when it spans the whole batch.</summary>
    public virtual int MaxBatchIndex => -1;

    /// <summary>The objective's value for the current forward pass: a scalar tensor, to be maximized.</summary>
    public abstract Tensor Evaluate(RenderContext context);

    /// <summary>
    /// Whether the objective is a sum of terms each computed from one batch item alone, so that a render may run
    /// the batch through the model in parts (<see cref="RenderOptions.MicroBatch"/>) with the same gradients.
    /// </summary>
    internal virtual bool PerItem => false;

    /// <summary>
    /// The sum of the objective's terms that fall in the part of the batch <paramref name="context"/> holds (items
    /// <see cref="RenderContext.ItemOffset"/> on), or null when none does. Only for <see cref="PerItem"/> objectives.
    /// </summary>
    internal virtual Tensor? EvaluatePart(RenderContext context) => Evaluate(context);

    /// <summary>The sum of two objectives.</summary>
    public static Objective operator +(Objective a, Objective b) => new SumObjective(a, b, 1);

    /// <summary>The difference of two objectives.</summary>
    public static Objective operator -(Objective a, Objective b) => new SumObjective(a, b, -1);

    /// <summary>An objective scaled by a constant.</summary>
    public static Objective operator *(double k, Objective a) => new ScaledObjective(k, a);

    /// <summary>An objective scaled by a constant.</summary>
    public static Objective operator *(Objective a, double k) => new ScaledObjective(k, a);

    /// <summary>An objective divided by a constant.</summary>
    public static Objective operator /(Objective a, double k) =>
        k == 0 ? throw new DivideByZeroException($"Cannot divide objective '{a.Name}' by zero.") : new ScaledObjective(1 / k, a);

    /// <summary>The negated objective (minimize instead of maximize).</summary>
    public static Objective operator -(Objective a) => new ScaledObjective(-1, a);

    /// <summary>Sums several objectives (for example one per batch item).</summary>
    public static Objective Sum(IEnumerable<Objective> objectives)
    {
        ArgumentNullException.ThrowIfNull(objectives);
        Objective? total = null;
        foreach (Objective o in objectives)
        {
            total = total is null ? o : total + o;
        }

        return total ?? throw new ArgumentException("Sum needs at least one objective.", nameof(objectives));
    }

    /// <inheritdoc />
    public override string ToString() => Name;

    internal static string Format(double k) => k.ToString("0.####", CultureInfo.InvariantCulture);

    private sealed class SumObjective : Objective
    {
        private readonly Objective _a;
        private readonly Objective _b;
        private readonly int _sign;

        public SumObjective(Objective a, Objective b, int sign)
        {
            _a = a ?? throw new ArgumentNullException(nameof(a));
            _b = b ?? throw new ArgumentNullException(nameof(b));
            _sign = sign;
        }

        public override string Name => $"{_a.Name} {(_sign > 0 ? "+" : "-")} {(_b is SumObjective ? $"({_b.Name})" : _b.Name)}";

        public override IEnumerable<string> Layers => _a.Layers.Concat(_b.Layers).Distinct();

        public override bool NeedsOutput => _a.NeedsOutput || _b.NeedsOutput;

        public override int MaxBatchIndex => Math.Max(_a.MaxBatchIndex, _b.MaxBatchIndex);

        internal override bool PerItem => _a.PerItem && _b.PerItem;

        public override Tensor Evaluate(RenderContext context) =>
            _sign > 0 ? _a.Evaluate(context) + _b.Evaluate(context) : _a.Evaluate(context) - _b.Evaluate(context);

        internal override Tensor? EvaluatePart(RenderContext context)
        {
            Tensor? a = _a.EvaluatePart(context);
            Tensor? b = _b.EvaluatePart(context);
            return b is null ? a : a is null ? (_sign > 0 ? b : -b) : (_sign > 0 ? a + b : a - b);
        }
    }

    private sealed class ScaledObjective : Objective
    {
        private readonly double _k;
        private readonly Objective _a;

        public ScaledObjective(double k, Objective a)
        {
            _k = k;
            _a = a ?? throw new ArgumentNullException(nameof(a));
        }

        public override string Name => _k == -1
            ? $"-{Wrap(_a)}"
            : $"{Format(_k)} * {Wrap(_a)}";

        public override IEnumerable<string> Layers => _a.Layers;

        public override bool NeedsOutput => _a.NeedsOutput;

        public override int MaxBatchIndex => _a.MaxBatchIndex;

        internal override bool PerItem => _a.PerItem;

        public override Tensor Evaluate(RenderContext context) => _a.Evaluate(context) * _k;

        internal override Tensor? EvaluatePart(RenderContext context) => _a.EvaluatePart(context) is Tensor a ? a * _k : null;

        private static string Wrap(Objective o) => o is SumObjective ? $"({o.Name})" : o.Name;
    }
}
