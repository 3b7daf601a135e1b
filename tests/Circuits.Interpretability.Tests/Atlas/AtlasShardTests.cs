using Circuits.Interpretability.Reporting.Atlas;

namespace Circuits.Interpretability.Tests.Atlas;

public sealed class AtlasShardTests
{
    private static Dictionary<string, string?> Env(params (string Name, string Value)[] variables) =>
        variables.ToDictionary(v => v.Name, v => (string?)v.Value);

    [Fact]
    public void An_explicit_shard_is_parsed_and_wins_over_the_environment()
    {
        AtlasShard.Parse("3/8").Should().Be(new AtlasShard(3, 8));
        AtlasShard.Resolve("1/2", Env(("JOB_COMPLETION_INDEX", "5"), (AtlasShard.CountVariable, "8"))).Should().Be(new AtlasShard(1, 2));
        AtlasShard.Resolve(null, Env()).Should().Be(AtlasShard.Single);
        AtlasShard.FromEnvironment(Env(("PATH", "/usr/bin"))).Should().BeNull();
        foreach (string bad in new[] { "4/4", "1", "-1/3", "a/b", "1/0" })
        {
            FluentActions.Invoking(() => AtlasShard.Parse(bad)).Should().Throw<AtlasException>().WithMessage($"Shard '{bad}' is not valid; expected i/n with 0 <= i < n*");
        }
    }

    [Fact]
    public void A_kubernetes_indexed_job_gives_the_index_and_the_manifest_gives_the_count()
    {
        AtlasShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "7"), ("CIRCUITS_SHARD_COUNT", "16"))).Should().Be(new AtlasShard(7, 16));

        FluentActions.Invoking(() => AtlasShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "7"))))
            .Should().Throw<AtlasException>().WithMessage("JOB_COMPLETION_INDEX is 7*CIRCUITS_SHARD_COUNT is not set*spec.completions*");
        FluentActions.Invoking(() => AtlasShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "16"), ("CIRCUITS_SHARD_COUNT", "16"))))
            .Should().Throw<AtlasException>().WithMessage("*JOB_COMPLETION_INDEX=16, CIRCUITS_SHARD_COUNT=16*0 <= index < count*");
        FluentActions.Invoking(() => AtlasShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "x"), ("CIRCUITS_SHARD_COUNT", "16"))))
            .Should().Throw<AtlasException>().WithMessage("JOB_COMPLETION_INDEX is 'x'; expected a whole number*");
    }

    [Fact]
    public void A_slurm_array_is_numbered_from_its_first_task_in_steps()
    {
        AtlasShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "0"))).Should().Be(new AtlasShard(3, 4));
        AtlasShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1"))).Should().Be(new AtlasShard(0, 4), "--array=1-4 starts at 1");
        AtlasShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "4"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "1"))).Should().Be(new AtlasShard(3, 4));
        AtlasShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "6"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_STEP", "2")))
            .Should().Be(new AtlasShard(3, 4), "--array=0-6:2");
        AtlasShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "3"))).Should().Be(new AtlasShard(2, 3), "MIN defaults to 0");

        FluentActions.Invoking(() => AtlasShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "9"), ("SLURM_ARRAY_TASK_COUNT", "3"), ("SLURM_ARRAY_TASK_MIN", "1"))))
            .Should().Throw<AtlasException>().WithMessage("*SLURM_ARRAY_TASK_ID=9*irregular arrays such as --array=1,4,9*");
        FluentActions.Invoking(() => AtlasShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_COUNT", "4"), ("SLURM_ARRAY_TASK_STEP", "2"))))
            .Should().Throw<AtlasException>().WithMessage("*cannot be numbered as a shard*--array=0-3*");
        FluentActions.Invoking(() => AtlasShard.FromEnvironment(Env(("SLURM_ARRAY_TASK_ID", "3"))))
            .Should().Throw<AtlasException>().WithMessage("*SLURM_ARRAY_TASK_COUNT is not set*");
    }

    [Fact]
    public void Kubernetes_wins_when_both_schedulers_are_set()
    {
        AtlasShard.FromEnvironment(Env(("JOB_COMPLETION_INDEX", "1"), ("CIRCUITS_SHARD_COUNT", "2"), ("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_COUNT", "4")))
            .Should().Be(new AtlasShard(1, 2));
    }
}
