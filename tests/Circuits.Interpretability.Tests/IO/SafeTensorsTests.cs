using System.Buffers.Binary;
using System.Text;
using Circuits.Interpretability.IO;

namespace Circuits.Interpretability.Tests.IO;

public class SafeTensorsTests
{
    [Fact]
    public void Round_trips_every_dtype_and_the_metadata()
    {
        using var dir = new TempDir();
        StateDict original = PyTorchCheckpoint.Load(Fixtures.InceptionV1("loader_zip.pth"));
        var metadata = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" };

        SafeTensors.Save(dir.File("a.safetensors"), original, metadata);
        StateDict back = SafeTensors.Load(dir.File("a.safetensors"));

        back.Keys.Should().BeEquivalentTo(original.Keys);
        foreach (var (key, tensor) in original)
        {
            back[key].DType.Should().Be(tensor.DType, key);
            back[key].Shape.Should().Equal(tensor.Shape, key);
            back[key].Data.ToArray().Should().Equal(tensor.Data.ToArray(), key);
        }

        back.Metadata.Should().BeEquivalentTo(metadata);
        Directory.GetFiles(dir.Path).Should().ContainSingle("the temporary file was renamed into place");
    }

    [Fact]
    public void Writes_the_documented_layout()
    {
        var state = new StateDict(new[] { KeyValuePair.Create("w", TensorData.FromFloats(new long[] { 2 }, new float[] { 1, -2 })) });
        using var stream = new MemoryStream();
        SafeTensors.Save(stream, state);
        byte[] bytes = stream.ToArray();

        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        (headerLength % 8).Should().Be(0, "the header is padded so the data is 8-byte aligned");
        string header = Encoding.UTF8.GetString(bytes, 8, (int)headerLength).TrimEnd();
        header.Should().Be("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}");
        bytes.Length.Should().Be(8 + (int)headerLength + 8);
        BitConverter.ToSingle(bytes, 8 + (int)headerLength + 4).Should().Be(-2);
    }

    [Fact]
    public void Reads_a_file_written_by_hand_with_out_of_order_offsets()
    {
        string header = "{\"__metadata__\":{\"k\":\"v\"},\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[2,10]},\"a\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,2]}}";
        byte[] h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + 10];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)h.Length);
        h.CopyTo(bytes, 8);
        BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(8 + h.Length), (Half)1.5);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(8 + h.Length + 2), -5);

        StateDict state = SafeTensors.Load(new MemoryStream(bytes));

        state["a"].ToDoubleArray().Should().Equal(1.5);
        state["a"].Shape.Should().BeEmpty();
        state["b"].ToDoubleArray().Should().Equal(-5);
        state.Metadata["k"].Should().Be("v");
    }
}
