using System.Net.Sockets;
using System.Text;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// A request written byte by byte to a service listening on a loopback port (the console's host): what HttpClient and the in-memory
/// test server would not send as written (an empty or repeated header, a "%" not followed by UTF-8 bytes).
/// </summary>
public static class OnTheWire
{
    /// <summary>
    /// Sends <paramref name="head"/> (the request line and headers, ending in an empty line; UTF-8, so a header may hold what ASCII
    /// does not) and the body, and reads the answer to the end (the request should say <c>Connection: close</c>). The body is left as
    /// sent (it may be chunked): tests look for a sentence in it, not at its JSON.
    /// </summary>
    public static async Task<(int Status, string Body)> SendAsync(Uri service, string head, byte[]? body = null)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(service.Host, service.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.UTF8.GetBytes(head));
        if (body is not null)
            await stream.WriteAsync(body);
        var response = await new StreamReader(stream, Encoding.UTF8).ReadToEndAsync();
        var status = int.Parse(response.Split(' ', 3)[1]);
        return (status, response[(response.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4)..]);
    }
}
