using System.Diagnostics;
using System.IO.Compression;
using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Circuits.Interpretability.Tests.Notebooks;

namespace Circuits.Interpretability.Tests.Build;

/// <summary>Packs the library once (from the build these tests run on) for the package tests.</summary>
public sealed class PackedLibrary : IDisposable
{
    public const string Version = "0.0.1-packagetest";

    public PackedLibrary()
    {
        Feed = Directory.CreateTempSubdirectory("circuits-pack-").FullName;
        string configuration = typeof(PackedLibrary).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "Configuration").Value!;
        string project = Path.Combine(NotebookTests.RepositoryRoot(), "src", "Circuits.Interpretability", "Circuits.Interpretability.csproj");
        (int exit, string output) = PackageTests.Run("dotnet",
            $"pack \"{project}\" -c {configuration} --no-build -o \"{Feed}\" -p:Version={Version} -nodeReuse:false -nologo", NotebookTests.RepositoryRoot());
        exit.Should().Be(0, output);
        Package = Path.Combine(Feed, $"Circuits.Interpretability.{Version}.nupkg");
        Symbols = Path.Combine(Feed, $"Circuits.Interpretability.{Version}.snupkg");
        using ZipArchive zip = ZipFile.OpenRead(Package);
        using (Stream nuspec = zip.GetEntry("Circuits.Interpretability.nuspec")!.Open())
        {
            Nuspec = XDocument.Load(nuspec);
        }

        Files = zip.Entries.Select(e => e.FullName).ToList();
    }

    public string Feed { get; }

    public string Package { get; }

    public string Symbols { get; }

    public XDocument Nuspec { get; }

    public IReadOnlyList<string> Files { get; }

    public string Metadata(string name) =>
        Nuspec.Root!.Elements().Single(e => e.Name.LocalName == "metadata").Elements().Single(e => e.Name.LocalName == name).Value;

    public XElement MetadataElement(string name) =>
        Nuspec.Root!.Elements().Single(e => e.Name.LocalName == "metadata").Elements().Single(e => e.Name.LocalName == name);

    public byte[] Read(string entry)
    {
        using ZipArchive zip = ZipFile.OpenRead(Package);
        using var stream = new MemoryStream();
        zip.GetEntry(entry)!.Open().CopyTo(stream);
        return stream.ToArray();
    }

    public void Dispose() => Directory.Delete(Feed, recursive: true);
}

/// <summary>The library's package as nuget.org and a consumer see it: metadata, readme, icon, symbols, build support.</summary>
public sealed class PackageTests : IClassFixture<PackedLibrary>
{
    private const long NuGetOrgLimit = 250L * 1024 * 1024;
    private readonly PackedLibrary _packed;

    public PackageTests(PackedLibrary packed) => _packed = packed;

    internal static (int Exit, string Output) Run(string file, string arguments, string workingDirectory)
    {
        var info = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(info)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {arguments} did not finish in 3 minutes");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void The_nuspec_carries_the_metadata_nuget_org_shows()
    {
        _packed.Metadata("id").Should().Be("Circuits.Interpretability");
        _packed.Metadata("version").Should().Be(PackedLibrary.Version);
        _packed.Metadata("authors").Should().NotBeNullOrWhiteSpace();
        _packed.Metadata("description").Should().Contain("TorchSharp-cpu").And.Contain("TorchSharp-cuda-linux");
        _packed.MetadataElement("license").Attribute("type")!.Value.Should().Be("expression");
        _packed.Metadata("license").Should().Be("MIT");
        _packed.Metadata("icon").Should().Be("icon.png");
        _packed.Metadata("readme").Should().Be("README.md");
        _packed.Metadata("tags").Should().Contain("torchsharp");
    }

    [Fact]
    public void Project_and_repository_urls_are_one_address()
    {
        string project = _packed.Metadata("projectUrl");
        XElement repository = _packed.MetadataElement("repository");

        project.Should().StartWith("https://github.com/");
        repository.Attribute("url")!.Value.Should().Be(project);
        repository.Attribute("type")!.Value.Should().Be("git");
        string root = NotebookTests.RepositoryRoot();
        if (Directory.Exists(Path.Combine(root, ".git")) || File.Exists(Path.Combine(root, ".git")))
        {
            (int exit, string head) = Run("git", "rev-parse HEAD", root);
            exit.Should().Be(0, head);
            repository.Attribute("commit")!.Value.Should().Be(head.Trim(), "SourceLink records the commit the package was built from");
        }
    }

    [Fact]
    public void The_library_depends_on_managed_torchsharp_and_no_backend()
    {
        var dependencies = _packed.Nuspec.Descendants().Where(e => e.Name.LocalName == "dependency")
            .ToDictionary(e => e.Attribute("id")!.Value, e => e.Attribute("version")!.Value);

        dependencies.Should().Contain("TorchSharp", typeof(TorchSharp.torch).Assembly.GetName().Version!.ToString(3));
        dependencies.Keys.Should().NotContain(id => id.StartsWith("TorchSharp-", StringComparison.OrdinalIgnoreCase) || id.StartsWith("libtorch", StringComparison.OrdinalIgnoreCase),
            "the application picks the backend");
        dependencies.Keys.Should().NotContain("Circuits.Interpretability.Build.Tasks", "the task travels inside the package");
    }

    [Fact]
    public void The_package_holds_the_build_support_with_a_precompiled_task()
    {
        _packed.Files.Should().Contain(new[]
        {
            "lib/net8.0/Circuits.Interpretability.dll",
            "lib/net8.0/Circuits.Interpretability.xml",
            "buildTransitive/Circuits.Interpretability.targets",
            "tasks/netstandard2.0/Circuits.Interpretability.Build.Tasks.dll",
            "README.md", "icon.png", "LICENSE",
        });
        _packed.Files.Should().NotContain(f => f.EndsWith(".cs", StringComparison.Ordinal), "nothing is compiled in the consumer's build");
        string targets = System.Text.Encoding.UTF8.GetString(_packed.Read("buildTransitive/Circuits.Interpretability.targets"));
        targets.Should().Contain("../tasks/netstandard2.0/Circuits.Interpretability.Build.Tasks.dll").And.NotContain("RoslynCodeTaskFactory");
        new FileInfo(_packed.Package).Length.Should().BeLessThan(NuGetOrgLimit);
    }

    [Fact]
    public void Symbols_come_as_a_snupkg_with_the_pdb()
    {
        File.Exists(_packed.Symbols).Should().BeTrue();
        using ZipArchive zip = ZipFile.OpenRead(_packed.Symbols);
        zip.Entries.Select(e => e.FullName).Should().Contain("lib/net8.0/Circuits.Interpretability.pdb");
    }

    [Fact]
    public void The_icon_is_a_square_png()
    {
        byte[] png = _packed.Read("icon.png");

        png.Take(8).Should().Equal(0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A);
        System.Text.Encoding.ASCII.GetString(png, 12, 4).Should().Be("IHDR");
        int width = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(16));
        int height = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(20));
        (width, height).Should().Be((128, 128));
        png.Length.Should().BeLessThan(1024 * 1024, "nuget.org limits icons to 1 MB");
    }

    [Fact]
    public void The_packed_readme_is_written_for_nuget_org()
    {
        string readme = System.Text.Encoding.UTF8.GetString(_packed.Read("README.md"));

        readme.Should().Contain("dotnet add package Circuits.Interpretability").And.Contain("dotnet add package TorchSharp-cpu")
            .And.Contain("TorchSharp-cuda-linux").And.Contain("TorchSharp-cuda-windows");
        AssertLinksAreAbsolute(readme, _packed.Metadata("projectUrl"));
    }

    [Fact]
    public void Every_package_readme_in_the_repository_has_only_absolute_links()
    {
        string folder = Path.Combine(NotebookTests.RepositoryRoot(), "src", "packaging");
        string[] readmes = Directory.GetFiles(folder, "*.md");
        readmes.Select(Path.GetFileName).Should().BeEquivalentTo("Circuits.Interpretability.md", "Circuits.Interpretability.Cli.md");
        foreach (string readme in readmes)
        {
            AssertLinksAreAbsolute(File.ReadAllText(readme), _packed.Metadata("projectUrl"));
        }
    }

    private static void AssertLinksAreAbsolute(string markdown, string projectUrl)
    {
        // Markdown links and images: ](target). nuget.org cannot resolve a relative target.
        foreach (Match link in Regex.Matches(markdown, @"\]\(([^)\s]+)"))
        {
            link.Groups[1].Value.Should().MatchRegex("^https://", $"link '{link.Value}' must be absolute for nuget.org");
        }

        // Every address of this project's repository starts with the project URL (one address, written once).
        string owner = new Uri(projectUrl).AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries)[0];
        foreach (Match url in Regex.Matches(markdown, @"https://github\.com/" + Regex.Escape(owner) + @"/[^\s)>]*"))
        {
            url.Value.Should().StartWith(projectUrl);
        }

        markdown.Should().NotMatchRegex(@"\]\((docs|\.\./|\./)", "no relative links into docs/");
    }

    [Fact]
    public void SourceLink_maps_the_sources_to_the_commit_when_the_clone_has_a_github_remote()
    {
        string root = NotebookTests.RepositoryRoot();
        string clone = Directory.CreateTempSubdirectory("circuits-sourcelink-").FullName;
        try
        {
            (int exit, string output) = Run("git", $"clone -q --depth 1 \"file://{root}\" \"{clone}\"", root);
            exit.Should().Be(0, output);
            string remote = _packed.Metadata("projectUrl") + ".git";
            Run("git", $"remote set-url origin {remote}", clone).Exit.Should().Be(0);
            string head = Run("git", "rev-parse HEAD", clone).Output.Trim();

            (exit, output) = Run("dotnet",
                "msbuild src/Circuits.Interpretability/Circuits.Interpretability.csproj -restore -t:PrepareForBuild;GenerateSourceLinkFile " +
                "-p:Configuration=Release -p:TargetFramework=net8.0 -nodeReuse:false -nologo -v:q", clone);
            exit.Should().Be(0, output);

            string json = File.ReadAllText(Path.Combine(clone, "src", "Circuits.Interpretability", "obj", "Release", "net8.0", "Circuits.Interpretability.sourcelink.json"));
            string raw = _packed.Metadata("projectUrl").Replace("https://github.com/", "https://raw.githubusercontent.com/", StringComparison.Ordinal);
            json.Should().Contain($"\"{raw}/{head}/*\"");
        }
        finally
        {
            Directory.Delete(clone, recursive: true);
        }
    }
}
