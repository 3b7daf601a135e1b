using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Tests.Core;

public sealed class AtomicFileTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "atomic-file-" + Guid.NewGuid().ToString("N"));

    public AtomicFileTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Writes_and_replaces_whole_files()
    {
        string path = Path.Combine(_folder, "a.txt");
        AtomicFile.WriteAllText(path, "first");
        File.ReadAllText(path).Should().Be("first");
        AtomicFile.WriteAllBytes(path, new byte[] { 1, 2, 3 });
        File.ReadAllBytes(path).Should().Equal(1, 2, 3);
        Directory.GetFiles(_folder).Should().ContainSingle();
    }

    [Fact]
    public void A_failed_write_keeps_the_old_content_and_leaves_no_temporary_file()
    {
        string path = Path.Combine(_folder, "keep.txt");
        File.WriteAllText(path, "old");
        FluentActions.Invoking(() => AtomicFile.Write(path, temp =>
        {
            File.WriteAllText(temp, "half");
            throw new IOException("disk full");
        })).Should().Throw<IOException>().WithMessage("disk full");

        File.ReadAllText(path).Should().Be("old");
        Directory.GetFiles(_folder).Should().Equal(path);
    }

    [Fact]
    public void A_missing_folder_is_named()
    {
        string path = Path.Combine(_folder, "missing", "x.txt");
        FluentActions.Invoking(() => AtomicFile.WriteAllText(path, "x"))
            .Should().Throw<DirectoryNotFoundException>().WithMessage($"*'{Path.Combine(_folder, "missing")}' does not exist*");
    }
}
