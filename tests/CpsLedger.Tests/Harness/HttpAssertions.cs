using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace CpsLedger.Tests.Harness;

public static class HttpAssertions
{
    private static JsonSerializerOptions? _apiJson;

    /// <summary>
    /// The service's own JSON options (enums as snake_case strings, strict numbers, ...), taken from a started host; except that a
    /// test's record may read only the members it asserts on (the service refuses unknown members in requests; whole response
    /// bodies are held against the document by the contract check).
    /// </summary>
    public static JsonSerializerOptions ApiJson =>
        _apiJson ?? throw new InvalidOperationException("No LedgerApp has started yet: typed bodies are read with the service's JSON options.");

    internal static void UseJsonOptionsOf(IServiceProvider services) =>
        _apiJson ??= new JsonSerializerOptions(services.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value.SerializerOptions)
        {
            UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Skip,
        };

    /// <summary>The response has the expected status and its body is a <typeparamref name="T"/>, read as the service wrote it.</summary>
    public static async Task<T> ReadAs<T>(this HttpResponseMessage response, HttpStatusCode expected = HttpStatusCode.OK)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected,
            $"Expected {(int)expected} {expected} but got {(int)response.StatusCode} {response.StatusCode}: {body}");
        return JsonSerializer.Deserialize<T>(body, ApiJson)
               ?? throw new Xunit.Sdk.XunitException($"Expected a {typeof(T).Name} but the body was: {body}");
    }

    public static async Task<T> ReadAs<T>(this Task<HttpResponseMessage> response, HttpStatusCode expected = HttpStatusCode.OK) =>
        await (await response).ReadAs<T>(expected);

    /// <summary>The response is a problem (RFC 9457) with the expected status; field errors are in <c>Errors</c> of a 400.</summary>
    public static async Task<HttpValidationProblemDetails> ReadProblem(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var problem = await response.ReadAs<HttpValidationProblemDetails>(expected);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal((int)expected, problem.Status);
        // Every status the API answers has a defining document a client can follow (RFC 9457, 4.2: about:blank says nothing).
        Assert.StartsWith("https://", problem.Type);
        return problem;
    }

    public static async Task<HttpValidationProblemDetails> ReadProblem(this Task<HttpResponseMessage> response, HttpStatusCode expected) =>
        await (await response).ReadProblem(expected);

    /// <summary>A string member a problem adds (e.g. <c>reason</c>, <c>correlationId</c>); null when it is absent.</summary>
    public static string? Extension(this ProblemDetails problem, string name) =>
        problem.Extensions.TryGetValue(name, out var value)
            ? value is JsonElement { ValueKind: JsonValueKind.String } json ? json.GetString() : value?.ToString()
            : null;

    public static async Task<JsonElement> ShouldBe(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected,
            $"Expected {(int)expected} {expected} but got {(int)response.StatusCode} {response.StatusCode}: {body}");
        var json = response.Content.Headers.ContentType?.MediaType?.EndsWith("json") ?? false;
        return json && body.Length > 0 ? JsonDocument.Parse(body).RootElement.Clone() : default;
    }

    public static async Task<JsonElement> ShouldBeProblem(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var problem = await response.ShouldBe(expected);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal((int)expected, problem.GetProperty("status").GetInt32());
        Assert.StartsWith("https://", problem.GetProperty("type").GetString());
        return problem;
    }

    public static Task<HttpResponseMessage> PostJson(this HttpClient client, string url, object body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        return client.SendAsync(request);
    }

    public static Task<HttpResponseMessage> PostRaw(this HttpClient client, string url, string body, string contentType = "application/json") =>
        client.PostAsync(url, new StringContent(body, System.Text.Encoding.UTF8, contentType));
}

public static class HttpRequests
{
    public static Task<HttpResponseMessage> PutJson(this HttpClient client, string url, object body) =>
        client.PutAsync(url, System.Net.Http.Json.JsonContent.Create(body));

    public static Task<HttpResponseMessage> PatchJson(this HttpClient client, string url, object body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Patch, url) { Content = System.Net.Http.Json.JsonContent.Create(body) };
        if (idempotencyKey is not null)
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        return client.SendAsync(request);
    }
}
