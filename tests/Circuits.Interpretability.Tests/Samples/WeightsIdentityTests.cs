using System.Text.Json;
using Circuits.Interpretability.Cli;
using Circuits.Interpretability.IO;
using Circuits.Interpretability.Models;
using Circuits.Interpretability.Samples.InceptionV1Samples;
using Circuits.Interpretability.Tests.Cli;

namespace Circuits.Interpretability.Tests.Samples;

/// <summary>
/// The same InceptionV1 weights get one model id, wherever they are found and whoever renders them: the CLI (file
/// given with --weights under another name) and the samples (the file in the model cache) write the same
/// render-catalog key for the same unit and settings.
/// </summary>
[Collection(nameof(InceptionV1SamplesCollection))]
[Trait("Category", "Slow")]
public sealed class WeightsIdentityTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("circuits-weights-id-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void The_locator_names_weights_by_content_not_by_path()
    {
        string cache = Path.Combine(_folder, "cache");
        Directory.CreateDirectory(cache);
        string cached = Path.Combine(cache, "inception5h.pth");
        File.Copy(IO.Fixtures.InceptionV1("inception5h_random_fp16.pth"), cached);
        string renamed = Path.Combine(_folder, "renamed-copy.pth");
        File.Copy(cached, renamed);
        var modelCache = new ModelCache(cache);

        WeightsLocation fromCache = InceptionV1Weights.Locate(cache: modelCache)!;
        WeightsLocation given = InceptionV1Weights.Locate(renamed, modelCache)!;

        fromCache.FromCache.Should().BeTrue();
        given.FromCache.Should().BeFalse();
        given.Path.Should().Be(renamed);
        given.ModelId.Should().Be(fromCache.ModelId).And.MatchRegex("^inceptionv1/sha256=[0-9a-f]{16}$");
        using var sha = System.Security.Cryptography.SHA256.Create();
        string expected = Convert.ToHexString(sha.ComputeHash(File.ReadAllBytes(renamed)))[..16].ToLowerInvariant();
        given.ContentId.Should().Be("sha256=" + expected, "the id is the file's SHA-256, computed independently here");

        InceptionV1Weights.Locate(cache: new ModelCache(Path.Combine(_folder, "empty"))).Should().BeNull("nothing is cached there and no path was given");
        var missing = () => InceptionV1Weights.Locate(Path.Combine(_folder, "nope.pth"), modelCache);
        missing.Should().Throw<WeightFileNotFoundException>().WithMessage("*nope.pth*does not exist*");

        File.WriteAllBytes(renamed, new byte[] { 1, 2, 3 });
        InceptionV1Weights.Locate(renamed, modelCache)!.ModelId.Should().NotBe(fromCache.ModelId, "other bytes are other weights");
    }

    [Fact]
    public async Task The_cli_and_the_samples_write_the_same_catalog_key_for_the_same_weights()
    {
        string cache = Path.Combine(_folder, "cache");
        Directory.CreateDirectory(cache);
        File.Copy(IO.Fixtures.InceptionV1("inception5h_random_fp16.pth"), Path.Combine(cache, "inception5h.pth"));
        string renamed = Path.Combine(_folder, "my-inception.pth");
        File.Copy(Path.Combine(cache, "inception5h.pth"), renamed);
        string? previous = Environment.GetEnvironmentVariable("CIRCUITS_CACHE");
        Environment.SetEnvironmentVariable("CIRCUITS_CACHE", cache);
        try
        {
            var cli = await CliTests.Run("render", "--model", "inceptionv1", "--weights", renamed, "--layers", "conv2d0", "--channels", "3",
                "--steps", "2", "--size", "32", "--batch", "1", "--out", Path.Combine(_folder, "cli"), "--json");
            cli.Code.Should().Be(ExitCodes.Success, cli.Err);
            string cliImage = JsonDocument.Parse(cli.Out).RootElement.GetProperty("files")[0].GetProperty("image").GetString()!;

            var log = new StringWriter();
            int rc = SampleRunner.Run(new[] { "early-vision", "--layers", "conv2d0", "--units", "3", "--steps", "2", "--size", "32", "--batch", "1",
                "--out", Path.Combine(_folder, "sample") }, log, log);
            rc.Should().Be(0, log.ToString());
            string sampleImage = Directory.GetFiles(Path.Combine(_folder, "sample"), "0003-*.png", SearchOption.AllDirectories).Should().ContainSingle().Subject;

            Path.GetFileName(cliImage).Should().Be(Path.GetFileName(sampleImage), "the key is made of the same model id, recipe and settings");
            log.ToString().Should().Contain(InceptionV1Weights.Locate(renamed)!.ModelId);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CIRCUITS_CACHE", previous);
        }
    }
}
