using System.Diagnostics;
using Circuits.Interpretability.Analysis.Tuning;
using Circuits.Interpretability.Circuits;
using Circuits.Interpretability.Rendering;

namespace Circuits.Interpretability.Samples;

/// <summary>
/// Progress of a long step of a sample as lines in its log: at most one every few seconds, and one when the step
/// ends, each with how far it is, the time spent and an estimate of the time left, for example
/// <c>  rendering mixed3b: 120/256 steps, 0:12 elapsed, about 0:13 left</c>.
/// </summary>
internal sealed class StepProgress<T> : IProgress<T>
{
    private readonly object _gate = new();
    private readonly TextWriter _log;
    private readonly string _what;
    private readonly string _unit;
    private readonly Func<T, (double Done, double Total)> _measure;
    private readonly TimeSpan _every;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private TimeSpan _last;

    /// <summary>Reports <paramref name="what"/> in <paramref name="log"/>, measuring each report with <paramref name="measure"/> (done, total) in <paramref name="unit"/>.</summary>
    public StepProgress(TextWriter log, string what, string unit, Func<T, (double Done, double Total)> measure, TimeSpan? every = null)
    {
        _log = log;
        _what = what;
        _unit = unit;
        _measure = measure;
        _every = every ?? TimeSpan.FromSeconds(5);
    }

    /// <inheritdoc />
    public void Report(T value)
    {
        var (done, total) = _measure(value);
        lock (_gate)
        {
            TimeSpan now = _clock.Elapsed;
            bool finished = done >= total;
            if (!finished && now - _last < _every)
            {
                return;
            }

            _last = now;
            string left = !finished && done > 0 ? $", about {Clock(now * ((total - done) / done))} left" : string.Empty;
            _log.WriteLine($"  {_what}: {done:0}/{total:0} {_unit}, {Clock(now)} elapsed{left}");
        }
    }

    private static string Clock(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";
}

/// <summary>Progress reporters for the library's long operations, writing <see cref="StepProgress{T}"/> lines.</summary>
internal static class StepProgress
{
    /// <summary>Steps of one feature visualization.</summary>
    public static IProgress<RenderProgress> Render(TextWriter log, string what) =>
        new StepProgress<RenderProgress>(log, what, "steps", p => (p.Step, p.Steps));

    /// <summary>Steps over every batch of a render catalog.</summary>
    public static IProgress<CatalogProgress> Catalog(TextWriter log, string what) =>
        new StepProgress<CatalogProgress>(log, what, "steps", p => (((double)p.BatchesDone * p.Steps) + p.Step, (double)p.Batches * p.Steps));

    /// <summary>Stimuli of a tuning sweep.</summary>
    public static IProgress<TuningProgress> Tuning(TextWriter log, string what) =>
        new StepProgress<TuningProgress>(log, what, "stimuli", p => (p.Done, p.Total));

    /// <summary>Passes of an expanded-weight computation.</summary>
    public static IProgress<ExpandedWeightsProgress> Expanded(TextWriter log, string what) =>
        new StepProgress<ExpandedWeightsProgress>(log, what, "passes", p => (p.Done, p.Total));
}
