using System.Security.Cryptography;
using System.Text;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Stream ids derived from what a stream is about, so that it is found without a lookup and a second start of it collides in
/// the database. The outputs are stored ids: never change how an existing kind of id is derived.
/// </summary>
public static class DerivedIds
{
    /// <summary>A name-based UUID, RFC 9562 version 5 (SHA-1 of namespace and name).</summary>
    public static Guid NameBased(Guid ns, string name)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        var input = new byte[16 + bytes.Length];
        ns.TryWriteBytes(input, bigEndian: true, out _);
        bytes.CopyTo(input, 16);
        var hash = SHA1.HashData(input);
        hash[6] = (byte)((hash[6] & 0x0F) | 0x50);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true);
    }

    /// <summary>The first 16 bytes of SHA-256 of a key such as "cpsledger:membership:{account id}".</summary>
    public static Guid Hashed(string key) => new(SHA256.HashData(Encoding.UTF8.GetBytes(key)).AsSpan(0, 16));
}
