using FluentValidation;
using JasperFx;
using JasperFx.CodeGeneration;
using JasperFx.CodeGeneration.Frames;
using Wolverine.Http;
using Wolverine.Http.CodeGen;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Runs the request body's FluentValidation validator (when one is registered) before every Wolverine endpoint,
/// answering 400 with RFC 9457 field errors. Hand-written because WolverineFx.FluentValidation is not available here.
/// </summary>
public sealed class FluentValidationHttpPolicy : IHttpPolicy
{
    public void Apply(IReadOnlyList<HttpChain> chains, GenerationRules rules, IServiceContainer container)
    {
        foreach (var chain in chains.Where(c => c.HasRequestType))
        {
            var validatorType = typeof(IValidator<>).MakeGenericType(chain.RequestType!);
            if (!container.HasRegistrationFor(validatorType))
                continue;

            var method = typeof(FluentValidationHttpExecutor)
                .GetMethod(nameof(FluentValidationHttpExecutor.ValidateAsync))!
                .MakeGenericMethod(chain.RequestType!);
            var call = new MethodCall(typeof(FluentValidationHttpExecutor), method);
            chain.Middleware.InsertRange(0, [call, new MaybeEndWithResultFrame(call.ReturnVariable!)]);
            chain.Metadata.ProducesValidationProblem();
        }
    }
}

public static class FluentValidationHttpExecutor
{
    public static async Task<IResult> ValidateAsync<T>(IValidator<T> validator, T message)
    {
        var result = await validator.ValidateAsync(message);
        return result.IsValid ? WolverineContinue.Result() : Results.ValidationProblem(result.ToDictionary());
    }
}

public static class ValidationConventions
{
    /// <summary>Field errors name the JSON members the client sent (camelCase), not the C# properties.</summary>
    public static void UseJsonFieldNames() =>
        ValidatorOptions.Global.PropertyNameResolver = (_, member, _) =>
            member is null ? null : System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(member.Name);
}
